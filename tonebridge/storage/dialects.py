"""The few statements whose SQL differs between PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from tonebridge.storage.orm import Base


def insert_ignoring_duplicates(
    dialect: str, row_type: type[Base], conflict_columns: Sequence[str]
) -> Any:
    """``INSERT ... ON CONFLICT (conflict_columns) DO NOTHING`` for ``dialect``.

    Both dialects support it with RETURNING, so a caller learns which rows were new.
    """
    if dialect == "postgresql":
        return postgresql.insert(row_type).on_conflict_do_nothing(index_elements=conflict_columns)
    if dialect == "sqlite":
        return sqlite.insert(row_type).on_conflict_do_nothing(index_elements=conflict_columns)
    msg = f"unsupported database dialect {dialect!r} (PostgreSQL and SQLite are)"
    raise ValueError(msg)
