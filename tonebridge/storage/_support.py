"""Small helpers the repositories share: lookups that raise the right error, row to record."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tonebridge.errors import IntegrityError, NotFoundError
from tonebridge.storage.orm import Base

RowT = TypeVar("RowT", bound=Base)
RecordT = TypeVar("RecordT")

DEFAULT_LIMIT = 100


async def get_row(session: AsyncSession, row_type: type[RowT], key: str, what: str) -> RowT:
    """The row with primary key ``key``, or :class:`NotFoundError` naming ``what``."""
    row = await session.get(row_type, key)
    if row is None:
        msg = f"no {what} with id {key!r}"
        raise NotFoundError(msg)
    return row


async def require_reference(
    session: AsyncSession, row_type: type[Base], key: str | None, field: str
) -> None:
    """Refuse a foreign key that points nowhere, with a message naming the field."""
    if key is None:
        return
    if await session.get(row_type, key) is None:
        msg = f"unknown {field} {key!r}"
        raise IntegrityError(msg)


async def existing_ids(session: AsyncSession, id_column: Any, keys: set[str]) -> set[str]:
    """Which of ``keys`` exist, in one query."""
    if not keys:
        return set()
    found = await session.scalars(select(id_column).where(id_column.in_(keys)))
    return set(found)


def require_aware(value: datetime | None, field: str) -> None:
    if value is not None and value.utcoffset() is None:
        msg = f"{field} must be timezone-aware, got {value.isoformat()}"
        raise ValueError(msg)


def to_record(row: Base, record_type: type[RecordT], **renamed: Any) -> RecordT:
    """Copy a row's columns into a frozen record (``renamed`` supplies differing names)."""
    names = [f.name for f in fields(record_type)]  # type: ignore[arg-type]
    values = {name: renamed[name] if name in renamed else getattr(row, name) for name in names}
    return record_type(**values)


def matching(column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring search; ``%`` and ``_`` in ``text`` match themselves."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def page(statement: Select[Any], limit: int, offset: int) -> Select[Any]:
    return statement.limit(max(0, min(limit, 1000))).offset(max(0, offset))
