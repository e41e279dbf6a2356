"""training_jobs.kind may be orpo (odds-ratio preference optimisation).

The check constraint is replaced, not altered: no dialect alters a CHECK in place (SQLite
rebuilds the table in batch mode). Downgrading fails while an orpo job row exists.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_training_jobs_kind"
_BEFORE = ("sft", "qlora", "dpo", "kto", "rlhf", "evaluate")
_AFTER = (*_BEFORE, "orpo")


def _allow(kinds: tuple[str, ...]) -> None:
    quoted = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_constraint(op.f(_NAME), type_="check")
        batch.create_check_constraint(op.f(_NAME), f"kind IN ({quoted})")


def upgrade() -> None:
    _allow(_AFTER)


def downgrade() -> None:
    _allow(_BEFORE)
