"""Registered models and deployment requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from tonebridge.api.schemas.common import Reason, Strict
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
