"""What the repositories give back: frozen dataclasses, never ORM objects.

The ``Literal`` aliases name every value a status column may hold (job kinds come from
:mod:`tonebridge.job_kinds`); the tables carry the same lists as CHECK constraints, so the
database refuses what the type checker would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from tonebridge.job_kinds import JobKind

JobStatus = Literal["pending", "running", "completed", "failed", "stopped"]
FinalJobStatus = Literal["completed", "failed", "stopped"]
ModelStatus = Literal["draft", "staging", "production", "archived"]
DatasetType = Literal["training", "validation", "test", "feedback"]
DatasetFormat = Literal["json", "csv", "parquet", "jsonl"]
FeedbackType = Literal["rating", "correction", "both"]
ABTestStatus = Literal["active", "paused", "completed"]

JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)
FINAL_JOB_STATUSES: tuple[str, ...] = get_args(FinalJobStatus)
MODEL_STATUSES: tuple[str, ...] = get_args(ModelStatus)
DATASET_TYPES: tuple[str, ...] = get_args(DatasetType)
DATASET_FORMATS: tuple[str, ...] = get_args(DatasetFormat)
FEEDBACK_TYPES: tuple[str, ...] = get_args(FeedbackType)
AB_TEST_STATUSES: tuple[str, ...] = get_args(ABTestStatus)


@dataclass(frozen=True, slots=True)
class TrainingJobRecord:
    id: str
    command_id: str
    kind: JobKind
    model_type: str
    base_model: str | None
    dataset_id: str | None
    parent_model_id: str | None
    status: JobStatus
    config: dict[str, Any]
    hyperparameters: dict[str, Any]
    progress: float
    metrics: dict[str, Any]
    error_message: str | None
    worker_id: str | None
    stop_requested: bool
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in FINAL_JOB_STATUSES


@dataclass(frozen=True, slots=True)
class ModelRecord:
    id: str
    training_job_id: str | None
    name: str
    version: str
    model_type: str
    base_model: str
    path: str
    metrics: dict[str, Any]
    status: ModelStatus
    mlflow_run_id: str | None
    lineage: dict[str, Any]
    deployed_at: datetime | None
    created_at: datetime

    @property
    def adapter(self) -> str | None:
        """Where this version's adapter is (``path``), or None for a base model: a trained
        version's MLflow artifact, or a registered external adapter's folder."""
        trained = self.mlflow_run_id is not None
        return self.path if trained or self.lineage.get("registered") == "adapter" else None


@dataclass(frozen=True, slots=True)
class Promotion:
    """A model moved to production and the one it replaced there (``None`` if none)."""

    model: ModelRecord
    replaced: ModelRecord | None


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    id: str
    name: str
    description: str | None
    type: DatasetType
    file_path: str
    format: DatasetFormat
    size_mb: float | None
    num_samples: int | None
    lineage: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """One stored feedback event; ``id`` is the event id, ``created_at`` the event time."""

    id: str
    user_id: str
    session_id: str | None
    model_id: str
    input_text: str
    output_text: str
    corrected_text: str | None
    transformation_type: str
    rating: int | None
    feedback_type: FeedbackType
    metadata: dict[str, str]
    created_at: datetime

    @property
    def event_id(self) -> str:
        return self.id

    @property
    def event_time(self) -> datetime:
        return self.created_at


@dataclass(frozen=True, slots=True)
class RejectedFeedback:
    """An event ``add_many`` refused; ``index`` is its position in the batch."""

    index: int
    event_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class FeedbackWriteResult:
    inserted: int
    duplicates: int
    rejected: tuple[RejectedFeedback, ...]


@dataclass(frozen=True, slots=True)
class FeedbackSelection:
    """Which feedback a query covers. ``since`` is inclusive, ``until`` exclusive.

    Half-open windows let a trainer fix ``until`` when it selects and use it as the next
    run's ``since`` without counting an event twice.
    """

    model_id: str | None = None
    transformation_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    corrections_only: bool = True


@dataclass(frozen=True, slots=True)
class FeedbackLineage:
    """Size and event-time range of a selection (``None`` times when it is empty)."""

    count: int
    first_event_time: datetime | None
    last_event_time: datetime | None


@dataclass(frozen=True, slots=True)
class ABTestRecord:
    id: str
    name: str
    model_a_id: str
    model_b_id: str
    traffic_split: dict[str, float]
    arms: list[dict[str, Any]]
    success_metrics: list[dict[str, Any]]
    config: dict[str, Any]
    status: ABTestStatus
    winner: str | None
    results: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None
