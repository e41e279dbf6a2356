"""Feedback events: stored once per event id, queried as training data.

``add_many`` checks every event itself before the database sees it, so one bad event
(rating 7, a model nobody registered, an id too long for its column) is reported back and
the good ones of the same batch are written; the table's CHECKs and foreign key stand
behind those checks so no corrupt row can land even if they missed something.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tonebridge.storage._support import existing_ids, get_row, require_aware, to_record
from tonebridge.storage.db import Database
from tonebridge.storage.dialects import insert_ignoring_duplicates
from tonebridge.storage.feedback_validation import Candidate, validate_events
from tonebridge.storage.orm import FeedbackRow, ModelRow
from tonebridge.storage.records import (
    FeedbackLineage,
    FeedbackRecord,
    FeedbackSelection,
    FeedbackWriteResult,
    RejectedFeedback,
)

Row = FeedbackRow


class FeedbackRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_many(self, events: Iterable[Mapping[str, Any]]) -> FeedbackWriteResult:
        """Insert FeedbackEvent dicts; an event id already stored (or repeated) is a no-op.

        The first write of an id wins: a replay with different content is a duplicate.
        """
        candidates, rejected = validate_events(events)
        async with self._db.write() as session:
            known = await existing_ids(session, ModelRow.id, {c.model_id for c in candidates})
            candidates, unknown = _split_known_models(candidates, known)
            inserted = await self._insert(session, _first_of_each_id(candidates))
        return FeedbackWriteResult(
            inserted=inserted,
            duplicates=len(candidates) - inserted,
            rejected=tuple(sorted([*rejected, *unknown], key=lambda r: r.index)),
        )

    async def get(self, event_id: str) -> FeedbackRecord:
        async with self._db.read() as session:
            return _record(await get_row(session, Row, event_id, "feedback event"))

    async def for_training(
        self, selection: FeedbackSelection, *, limit: int | None = None
    ) -> list[FeedbackRecord]:
        """The selected events, oldest first."""
        query = select(Row).where(*_where(selection)).order_by(Row.created_at, Row.id)
        if limit is not None:
            query = query.limit(limit)
        async with self._db.read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def count(self, selection: FeedbackSelection) -> int:
        """How many events the selection covers (corrected samples by default)."""
        async with self._db.read() as session:
            total = await session.scalar(select(func.count(Row.id)).where(*_where(selection)))
            return int(total or 0)

    async def lineage(self, selection: FeedbackSelection) -> FeedbackLineage:
        """Count and first/last event time of a selection: what a dataset was built from."""
        columns = (func.count(Row.id), func.min(Row.created_at), func.max(Row.created_at))
        async with self._db.read() as session:
            count, first, last = (
                await session.execute(select(*columns).where(*_where(selection)))
            ).one()
        return FeedbackLineage(count=int(count), first_event_time=first, last_event_time=last)

    async def count_by_model(self, selection: FeedbackSelection) -> dict[str, int]:
        """Counts per model id (``selection.model_id`` narrows it to one), for retrain policies."""
        query = select(Row.model_id, func.count(Row.id)).where(*_where(selection))
        async with self._db.read() as session:
            rows = await session.execute(query.group_by(Row.model_id))
            return {model_id: int(count) for model_id, count in rows}

    async def latest_corrections(self, model_id: str, limit: int = 10) -> list[FeedbackRecord]:
        """The model's newest events with a correction text, newest first."""
        query = (
            select(Row)
            .where(Row.model_id == model_id, Row.corrected_text.is_not(None))
            .order_by(Row.created_at.desc(), Row.id)
            .limit(max(1, min(limit, 100)))
        )
        async with self._db.read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def _insert(self, session: AsyncSession, candidates: list[Candidate]) -> int:
        if not candidates:
            return 0
        insert = insert_ignoring_duplicates(self._db.dialect, Row, ["id"]).returning(Row.id)
        inserted = await session.scalars(insert, [c.values for c in candidates])
        return len(list(inserted))


def _first_of_each_id(candidates: list[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    unique = []
    for candidate in candidates:
        if candidate.event_id not in seen:
            seen.add(candidate.event_id)
            unique.append(candidate)
    return unique


def _split_known_models(
    candidates: list[Candidate], known: set[str]
) -> tuple[list[Candidate], list[RejectedFeedback]]:
    good = [c for c in candidates if c.model_id in known]
    unknown = [
        RejectedFeedback(c.index, c.event_id, f"unknown model {c.model_id!r}")
        for c in candidates
        if c.model_id not in known
    ]
    return good, unknown


def _where(selection: FeedbackSelection) -> list[ColumnElement[bool]]:
    require_aware(selection.since, "since")
    require_aware(selection.until, "until")
    where: list[ColumnElement[bool]] = []
    if selection.model_id is not None:
        where.append(Row.model_id == selection.model_id)
    if selection.transformation_type is not None:
        where.append(Row.transformation_type == selection.transformation_type)
    if selection.since is not None:
        where.append(Row.created_at >= selection.since)
    if selection.until is not None:
        where.append(Row.created_at < selection.until)
    if selection.corrections_only:
        where.append(Row.corrected_text.is_not(None))
    return where


def _record(row: FeedbackRow) -> FeedbackRecord:
    return to_record(row, FeedbackRecord, metadata=dict(row.event_metadata))
