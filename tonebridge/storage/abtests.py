"""A/B tests between model versions: created once per test id, completed once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tonebridge.errors import ConflictError, IntegrityError
from tonebridge.storage._support import (
    DEFAULT_LIMIT,
    existing_ids,
    get_row,
    matching,
    page,
    to_record,
)
from tonebridge.storage.db import Database
from tonebridge.storage.dialects import insert_ignoring_duplicates
from tonebridge.storage.orm import ABTestRow, ModelRow, new_id
from tonebridge.storage.records import ABTestRecord, ABTestStatus
from tonebridge.storage.types import utc_now

_OPEN = ("active", "paused")


class ABTestRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        name: str,
        model_a_id: str,
        model_b_id: str,
        traffic_split: dict[str, float] | None = None,
        arms: list[dict[str, Any]] | None = None,
        success_metrics: list[dict[str, Any]] | None = None,
        config: dict[str, Any] | None = None,
        test_id: str | None = None,
    ) -> tuple[ABTestRecord, bool]:
        """The test ``test_id``, made now (``True``) or by an earlier delivery.

        ``arms`` lists every arm (``arm_id``, ``model_id``, ``weight``) when there are more
        than two; ``traffic_split`` maps arm id to weight (default 50/50 over ``a``/``b``).
        """
        arms = arms or [
            {"arm_id": "a", "model_id": model_a_id, "weight": 0.5},
            {"arm_id": "b", "model_id": model_b_id, "weight": 0.5},
        ]
        values = {
            "id": test_id or new_id(),
            "name": name,
            "model_a_id": model_a_id,
            "model_b_id": model_b_id,
            "traffic_split": traffic_split or {arm["arm_id"]: arm["weight"] for arm in arms},
            "arms": arms,
            "success_metrics": success_metrics or [],
            "config": config or {},
            "status": "active",
            "results": {},
            "created_at": utc_now(),
        }
        async with self._db.write() as session:
            await _require_models(session, {model_a_id, model_b_id, *_arm_models(arms)})
            insert = insert_ignoring_duplicates(self._db.dialect, ABTestRow, ["id"])
            created = await session.scalar(insert.values(values).returning(ABTestRow.id))
            row = await get_row(session, ABTestRow, str(values["id"]), "A/B test")
            return to_record(row, ABTestRecord), created is not None

    async def get(self, test_id: str) -> ABTestRecord:
        async with self._db.read() as session:
            return to_record(await get_row(session, ABTestRow, test_id, "A/B test"), ABTestRecord)

    async def list(
        self,
        *,
        status: ABTestStatus | None = None,
        name: str | None = None,
        search: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[ABTestRecord]:
        """Newest first; ``status``, ``name`` (exact) and ``search`` (in the name or the id,
        any case) narrow the list."""
        query = select(ABTestRow).order_by(ABTestRow.created_at.desc(), ABTestRow.id)
        if status is not None:
            query = query.where(ABTestRow.status == status)
        if name is not None:
            query = query.where(ABTestRow.name == name)
        if search:
            query = query.where(
                or_(matching(ABTestRow.name, search), matching(ABTestRow.id, search))
            )
        async with self._db.read() as session:
            rows = await session.scalars(page(query, limit, offset))
            return [to_record(row, ABTestRecord) for row in rows]

    async def set_status(self, test_id: str, status: ABTestStatus) -> ABTestRecord:
        """Pause, resume or complete (without a winner) an open test."""
        if status == "completed":
            return await self.complete(test_id, winner=None, results=None)
        async with self._db.write() as session:
            row = await get_row(session, ABTestRow, test_id, "A/B test")
            _require_open(row, f"set it {status}")
            row.status = status
            await session.flush()
            return to_record(row, ABTestRecord)

    async def complete(
        self, test_id: str, winner: str | None, results: dict[str, Any] | None
    ) -> ABTestRecord:
        """End a test. ``winner`` is the winning model id (``None``: no difference).

        Completing again with the same winner is a no-op; another winner is a ConflictError.
        """
        async with self._db.write() as session:
            row = await get_row(session, ABTestRow, test_id, "A/B test")
            if row.status == "completed" and row.winner == winner:
                return to_record(row, ABTestRecord)
            _require_open(row, "complete it")
            if winner is not None and winner not in _test_models(row):
                msg = f"winner {winner!r} is not a model of A/B test {test_id!r}"
                raise IntegrityError(msg)
            row.status, row.winner, row.completed_at = "completed", winner, utc_now()
            row.results = results or {}
            await session.flush()
            return to_record(row, ABTestRecord)


def _arm_models(arms: list[dict[str, Any]]) -> set[str]:
    return {str(arm["model_id"]) for arm in arms if "model_id" in arm}


def _test_models(row: ABTestRow) -> set[str]:
    return {row.model_a_id, row.model_b_id, *_arm_models(row.arms)}


def _require_open(row: ABTestRow, action: str) -> None:
    if row.status not in _OPEN:
        msg = f"cannot {action}: A/B test {row.id!r} is {row.status}"
        raise ConflictError(msg)


async def _require_models(session: AsyncSession, model_ids: set[str]) -> None:
    missing = model_ids - await existing_ids(session, ModelRow.id, model_ids)
    if missing:
        msg = f"unknown model id(s) {sorted(missing)} in A/B test"
        raise IntegrityError(msg)
