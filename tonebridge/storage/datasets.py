"""Datasets: files a training job reads, with where their rows came from (lineage)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tonebridge.storage._support import DEFAULT_LIMIT, get_row, page, to_record
from tonebridge.storage.db import Database
from tonebridge.storage.orm import DatasetRow, new_id
from tonebridge.storage.records import DatasetFormat, DatasetRecord, DatasetType
from tonebridge.storage.types import utc_now


class DatasetRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        *,
        name: str,
        type: DatasetType,
        file_path: str,
        format: DatasetFormat,
        description: str | None = None,
        size_mb: float | None = None,
        num_samples: int | None = None,
        lineage: dict[str, Any] | None = None,
        dataset_id: str | None = None,
    ) -> DatasetRecord:
        """Store a dataset. Adding the same ``dataset_id`` again is a no-op.

        ``lineage`` says where the rows came from, e.g. the feedback selection and its
        event-time range (:class:`~tonebridge.storage.records.FeedbackLineage`).
        """
        row = DatasetRow(
            id=dataset_id or new_id(),
            name=name,
            description=description,
            type=type,
            file_path=file_path,
            format=format,
            size_mb=size_mb,
            num_samples=num_samples,
            lineage=lineage or {},
            created_at=utc_now(),
        )
        async with self._db.write() as session:
            if dataset_id is not None and (existing := await session.get(DatasetRow, dataset_id)):
                return to_record(existing, DatasetRecord)
            session.add(row)
            await session.flush()
            return to_record(row, DatasetRecord)

    async def get(self, dataset_id: str) -> DatasetRecord:
        async with self._db.read() as session:
            row = await get_row(session, DatasetRow, dataset_id, "dataset")
            return to_record(row, DatasetRecord)

    async def list(
        self,
        *,
        type: DatasetType | None = None,
        name: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[DatasetRecord]:
        """Newest first; ``type`` and ``name`` (exact) narrow the list."""
        query = select(DatasetRow).order_by(DatasetRow.created_at.desc(), DatasetRow.id)
        if type is not None:
            query = query.where(DatasetRow.type == type)
        if name is not None:
            query = query.where(DatasetRow.name == name)
        async with self._db.read() as session:
            rows = await session.scalars(page(query, limit, offset))
            return [to_record(row, DatasetRecord) for row in rows]
