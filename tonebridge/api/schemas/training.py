"""Training, RLHF and evaluation requests, and the job they become.

Job requests apply the trainer's input rules (:mod:`tonebridge.rules`), so a value the job
row or the trainer would refuse is a 422 naming the field, not an accepted job that fails.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    JsonValue,
    StringConstraints,
    model_validator,
)

from tonebridge import rules
from tonebridge.api.schemas.common import Id, Reason, Strict
from tonebridge.decisions.continual import StartFrom
from tonebridge.errors import InvalidEventError
from tonebridge.job_kinds import OfflineKind


def _obeys(check: Callable[[Any], Any]) -> AfterValidator:
    """A pydantic validator from a rule: its InvalidEventError becomes a field error."""

    def validate(value: Any) -> Any:
        try:
            check(value)
        except InvalidEventError as exc:
            raise ValueError(str(exc)) from None
        return value

    return AfterValidator(validate)


def _text(field: str, rule: rules.TextRule) -> AfterValidator:
    return _obeys(lambda value: rules.check_text(value, field, rule))


# Ids that fit the job row's String(64) and have an id's shape.
ModelRef = Annotated[str, _text("model_id", rules.ID)]
DatasetRef = Annotated[str, _text("dataset_id", rules.ID)]
ModelType = Annotated[
    str,
    StringConstraints(min_length=1),
    _text("model_type", rules.NAME),
    Field(description=f"At most {rules.NAME_LENGTH} characters."),
]
JobReason = Annotated[Reason, _obeys(lambda value: rules.clean_text(value, "reason"))]
BaseModelName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500, strip_whitespace=True),
    _obeys(lambda value: rules.clean_text(value, "base_model")),
    Field(description="A Hugging Face model id or a local path with open weights."),
]
Hyperparameters = Annotated[
    dict[Annotated[str, StringConstraints(max_length=100)], JsonValue],
    _obeys(lambda value: rules.check_json(value, "hyperparameters")),
    Field(
        max_length=100,
        description="Options of the method's training config (epochs, batch_size, "
        "learning_rate, lora_r, ...); unknown options are refused. Defaults: the "
        "deployment's settings.",
    ),
]


class JobRequest(Strict):
    base_model: BaseModelName | None = None
    model_id: ModelRef | None = Field(
        default=None, description="The model to improve; its base model is used by default."
    )
    model_type: ModelType = "tone_adjustment"
    dataset_id: DatasetRef | None = None
    feedback_since: AwareDatetime | None = Field(
        default=None, description="Train on feedback from this event time on."
    )
    hyperparameters: Hyperparameters = Field(default_factory=dict)
    reason: JobReason | None = None

    @model_validator(mode="after")
    def _has_a_base(self) -> JobRequest:
        if self.base_model is None and self.model_id is None:
            msg = "give base_model, or model_id of the model to improve"
            raise ValueError(msg)
        return self


class TrainRequest(JobRequest):
    """Fine-tune a LoRA adapter (``sft``, ``qlora``) or align with ``dpo``, ``kto`` or ``orpo``."""

    method: OfflineKind = "sft"
    start_from: StartFrom = Field(
        default="parent",
        description="parent: continue the adapter of model_id (when it has one on this base); "
        "base: train a fresh adapter on the base model.",
    )
    replay_fraction: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of the feedback older than the job's window to replay with it "
        "(default: the deployment's REPLAY_FRACTION).",
    )

    def trainer_options(self) -> dict[str, Any]:
        """The continual-training options given, as the trainer reads them from ``config_json``
        (one left out takes the trainer's default)."""
        given = self.model_fields_set & {"start_from", "replay_fraction"}
        return {name: getattr(self, name) for name in sorted(given)}


class RLHFRequest(JobRequest):
    """Online RL from a reward built from user feedback (GRPO or RLOO)."""

    algorithm: Literal["grpo", "rloo"] = "grpo"


class EvaluateRequest(Strict):
    dataset_id: Id | None = Field(
        default=None, description="Held-out set; default: recent feedback."
    )
    baseline_model_id: Id | None = Field(default=None, description="Also compare against it.")
    reason: Reason | None = None


class CompareRequest(Strict):
    model_id: Id = Field(description="The candidate.")
    baseline_model_id: Id
    dataset_id: Id | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _two_models(self) -> CompareRequest:
        if self.model_id == self.baseline_model_id:
            msg = "model_id and baseline_model_id must differ"
            raise ValueError(msg)
        return self


class StopRequest(Strict):
    reason: Reason | None = None


class JobAccepted(BaseModel):
    """The command is on its topic; poll ``status_url`` (the job id is the command id)."""

    job_id: str
    command_id: str
    status: str
    status_url: str


class JobStatus(BaseModel):
    job_id: str
    command_id: str
    kind: str
    status: Literal["pending", "running", "completed", "failed", "stopped"]
    progress: float
    stop_requested: bool
    base_model: str | None
    model_type: str
    dataset_id: str | None
    parent_model_id: str | None
    metrics: dict[str, Any]
    error_message: str | None
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class JobPage(BaseModel):
    items: list[JobStatus]
    limit: int
    offset: int
