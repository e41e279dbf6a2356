"""Registered models and deployment requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from tonebridge import rules
from tonebridge.api.schemas.common import Clean, Id, Reason, Strict
from tonebridge.storage.records import ModelStatus as ModelStatus  # the one definition


class ModelOut(BaseModel):
    model_id: str
    name: str
    version: str
    model_type: str
    base_model: str
    status: ModelStatus
    artifact_uri: str
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    training_job_id: str | None
    mlflow_run_id: str | None
    deployed_at: datetime | None
    created_at: datetime


class RegisteredModel(ModelOut):
    """The registered version, and the id of the ModelRegistered event that announced it."""

    event_id: str


class ModelPage(BaseModel):
    items: list[ModelOut]
    limit: int
    offset: int


class DeployRequest(Strict):
    reason: Reason | None = None


class ModelCommandAccepted(BaseModel):
    """The registry will move the alias and announce it with a ModelChanged event."""

    command_id: str
    model_id: str
    action: Literal["deploy", "rollback"]
    status_url: str


RegisteredName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=rules.LABEL_LENGTH, pattern=rules.ID_PATTERN),
    Field(description="The registered model name (letters, digits and ._:/@+-)."),
]
Version = Annotated[
    str,
    StringConstraints(min_length=1, max_length=rules.NAME_LENGTH, pattern=rules.ID_PATTERN),
    Field(description="Default: base for a base model, ext-<digest of the files> for an adapter."),
]
ModelSource = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1000, strip_whitespace=True),
    Clean,
    Field(
        description="Base: a Hugging Face model id or a local folder. Adapter: the local "
        "folder of a PEFT adapter (adapter_config.json and weights)."
    ),
]
ModelType = Annotated[
    str, StringConstraints(min_length=1, max_length=rules.NAME_LENGTH, pattern=rules.ID_PATTERN)
]


class ModelRegistration(Strict):
    """Register a base model, or an adapter trained elsewhere with its base model."""

    kind: Literal["base", "adapter"]
    name: RegisteredName
    source: ModelSource
    base_model: ModelSource | None = Field(
        default=None, description="An adapter's base model (default: its adapter_config.json's)."
    )
    model_type: ModelType = "tone_adjustment"
    version: Version | None = None
    model_id: Id | None = Field(
        default=None, description="Default: derived from the name and version (stable)."
    )
