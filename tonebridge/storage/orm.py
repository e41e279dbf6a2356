"""The tables. Only the repositories import this module; records leave, rows do not."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tonebridge.job_kinds import JOB_KINDS
from tonebridge.storage.records import (
    AB_TEST_STATUSES,
    DATASET_FORMATS,
    DATASET_TYPES,
    FEEDBACK_TYPES,
    JOB_STATUSES,
    MODEL_STATUSES,
)
from tonebridge.storage.types import JSONDocument, UTCDateTime, utc_now

# Deterministic constraint names, so migrations can find and drop them on both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)


def new_id() -> str:
    return uuid.uuid4().hex


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for ``column IN (...)``, the CHECK every status column carries."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument}


class DatasetRow(Base):
    __tablename__ = "datasets"
    __table_args__ = (
        CheckConstraint(one_of("type", DATASET_TYPES), name="type"),
        CheckConstraint(one_of("format", DATASET_FORMATS), name="format"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16))
    file_path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    size_mb: Mapped[float | None] = mapped_column(Float)
    num_samples: Mapped[int | None] = mapped_column(Integer)
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class TrainingJobRow(Base):
    __tablename__ = "training_jobs"
    __table_args__ = (
        CheckConstraint(one_of("kind", JOB_KINDS), name="kind"),
        CheckConstraint(one_of("status", JOB_STATUSES), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        Index("ix_training_jobs_status_worker", "status", "worker_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    command_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    model_type: Mapped[str] = mapped_column(String(64))
    base_model: Mapped[str | None] = mapped_column(Text)
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id"))
    # use_alter: models and training_jobs reference each other.
    parent_model_id: Mapped[str | None] = mapped_column(ForeignKey("models.id", use_alter=True))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_message: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(255))
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    # Refreshed by the trainer running the job; a stale one means that trainer died.
    heartbeat_at: Mapped[datetime | None] = mapped_column()


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_models_name_version"),
        CheckConstraint(one_of("status", MODEL_STATUSES), name="status"),
        # At most one production version per name, enforced by the database itself.
        Index(
            "uq_models_one_production",
            "name",
            unique=True,
            postgresql_where=text("status = 'production'"),
            sqlite_where=text("status = 'production'"),
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    training_job_id: Mapped[str | None] = mapped_column(ForeignKey("training_jobs.id"))
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(64))
    model_type: Mapped[str] = mapped_column(String(64))
    base_model: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deployed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class FeedbackRow(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating"),
        CheckConstraint(one_of("feedback_type", FEEDBACK_TYPES), name="feedback_type"),
        CheckConstraint("rating IS NOT NULL OR corrected_text IS NOT NULL", name="has_signal"),
        Index("ix_feedback_model_time", "model_id", "created_at"),
        Index("ix_feedback_time", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255))
    session_id: Mapped[str | None] = mapped_column(String(255))
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    input_text: Mapped[str] = mapped_column(Text)
    output_text: Mapped[str] = mapped_column(Text)
    corrected_text: Mapped[str | None] = mapped_column(Text)
    transformation_type: Mapped[str] = mapped_column(String(64))
    rating: Mapped[int | None] = mapped_column(Integer)
    feedback_type: Mapped[str] = mapped_column(String(16))
    # "metadata" is reserved on declarative classes; the column keeps the event's name.
    event_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column()


class ABTestRow(Base):
    __tablename__ = "ab_tests"
    __table_args__ = (CheckConstraint(one_of("status", AB_TEST_STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    model_a_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    model_b_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    traffic_split: Mapped[dict[str, Any]] = mapped_column(default=dict)
    arms: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    success_metrics: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")
    winner: Mapped[str | None] = mapped_column(ID)
    results: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    completed_at: Mapped[datetime | None] = mapped_column()
