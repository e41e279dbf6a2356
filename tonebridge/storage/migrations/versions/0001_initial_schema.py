"""Initial schema: datasets, training_jobs, models, feedback, ab_tests.

training_jobs.parent_model_id and models.training_job_id point at each other, so the
first of the two foreign keys is added once both tables exist (batch mode, which SQLite
needs for any constraint change).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARENT_FK = "fk_training_jobs_parent_model_id_models"


def _json(name: str) -> sa.Column[object]:
    kind = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    return sa.Column(name, kind, nullable=False)


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str = "id", *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length=64), nullable=nullable)


def _text(name: str, length: int | None = None, *, nullable: bool = False) -> sa.Column[object]:
    kind = sa.String(length=length) if length else sa.Text()
    return sa.Column(name, kind, nullable=nullable)


def _one_of(table: str, column: str, *values: str) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=op.f(f"ck_{table}_{column}"))


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{column}_{target}")
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=name)


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}"))


def _create_datasets() -> None:
    op.create_table(
        "datasets",
        _id(),
        _text("name", 255),
        _text("description", nullable=True),
        _text("type", 16),
        _text("file_path"),
        _text("format", 16),
        sa.Column("size_mb", sa.Float(), nullable=True),
        sa.Column("num_samples", sa.Integer(), nullable=True),
        _json("lineage"),
        _time("created_at"),
        _one_of("datasets", "type", "training", "validation", "test", "feedback"),
        _one_of("datasets", "format", "json", "csv", "parquet", "jsonl"),
        _pk("datasets"),
    )


def _create_training_jobs() -> None:
    op.create_table(
        "training_jobs",
        _id(),
        _text("command_id", 255),
        _text("kind", 16),
        _text("model_type", 64),
        _text("base_model", nullable=True),
        _id("dataset_id", nullable=True),
        _id("parent_model_id", nullable=True),
        _text("status", 16),
        _json("config"),
        _json("hyperparameters"),
        sa.Column("progress", sa.Float(), nullable=False),
        _json("metrics"),
        _text("error_message", nullable=True),
        _text("worker_id", 255, nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        _text("requested_by", 255, nullable=True),
        _time("created_at"),
        _time("started_at", nullable=True),
        _time("completed_at", nullable=True),
        _one_of("training_jobs", "kind", "sft", "qlora", "dpo", "kto", "rlhf", "evaluate"),
        _one_of(
            "training_jobs", "status", "pending", "running", "completed", "failed", "stopped"
        ),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 1", name=op.f("ck_training_jobs_progress")
        ),
        _fk("training_jobs", "dataset_id", "datasets"),
        _pk("training_jobs"),
        sa.UniqueConstraint("command_id", name=op.f("uq_training_jobs_command_id")),
    )
    op.create_index(op.f("ix_training_jobs_created_at"), "training_jobs", ["created_at"])
    op.create_index("ix_training_jobs_status_worker", "training_jobs", ["status", "worker_id"])


def _create_models() -> None:
    op.create_table(
        "models",
        _id(),
        _id("training_job_id", nullable=True),
        _text("name", 255),
        _text("version", 64),
        _text("model_type", 64),
        _text("base_model"),
        _text("path"),
        _json("metrics"),
        _text("status", 16),
        _text("mlflow_run_id", 64, nullable=True),
        _json("lineage"),
        _time("deployed_at", nullable=True),
        _time("created_at"),
        _one_of("models", "status", "draft", "staging", "production", "archived"),
        _fk("models", "training_job_id", "training_jobs"),
        _pk("models"),
        sa.UniqueConstraint("name", "version", name="uq_models_name_version"),
    )
    production = sa.text("status = 'production'")
    op.create_index(
        "uq_models_one_production",
        "models",
        ["name"],
        unique=True,
        postgresql_where=production,
        sqlite_where=production,
    )
    with op.batch_alter_table("training_jobs") as batch:
        batch.create_foreign_key(_PARENT_FK, "models", ["parent_model_id"], ["id"])


def _create_feedback() -> None:
    op.create_table(
        "feedback",
        _id(),
        _text("user_id", 255),
        _text("session_id", 255, nullable=True),
        _id("model_id"),
        _text("input_text"),
        _text("output_text"),
        _text("corrected_text", nullable=True),
        _text("transformation_type", 64),
        sa.Column("rating", sa.Integer(), nullable=True),
        _text("feedback_type", 16),
        _json("metadata"),
        _time("created_at"),
        _one_of("feedback", "feedback_type", "rating", "correction", "both"),
        sa.CheckConstraint(
            "rating IS NOT NULL OR corrected_text IS NOT NULL",
            name=op.f("ck_feedback_has_signal"),
        ),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)", name=op.f("ck_feedback_rating")
        ),
        _fk("feedback", "model_id", "models"),
        _pk("feedback"),
    )
    op.create_index("ix_feedback_model_time", "feedback", ["model_id", "created_at"])
    op.create_index("ix_feedback_time", "feedback", ["created_at"])


def _create_ab_tests() -> None:
    op.create_table(
        "ab_tests",
        _id(),
        _text("name", 255),
        _id("model_a_id"),
        _id("model_b_id"),
        _json("traffic_split"),
        _json("arms"),
        _json("success_metrics"),
        _json("config"),
        _text("status", 16),
        _id("winner", nullable=True),
        _json("results"),
        _time("created_at"),
        _time("completed_at", nullable=True),
        _one_of("ab_tests", "status", "active", "paused", "completed"),
        _fk("ab_tests", "model_a_id", "models"),
        _fk("ab_tests", "model_b_id", "models"),
        _pk("ab_tests"),
    )
    op.create_index(op.f("ix_ab_tests_created_at"), "ab_tests", ["created_at"])


def upgrade() -> None:
    _create_datasets()
    _create_training_jobs()
    _create_models()
    _create_feedback()
    _create_ab_tests()


def downgrade() -> None:
    op.drop_table("ab_tests")
    op.drop_table("feedback")
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_constraint(_PARENT_FK, type_="foreignkey")
    op.drop_table("models")
    op.drop_table("training_jobs")
    op.drop_table("datasets")
