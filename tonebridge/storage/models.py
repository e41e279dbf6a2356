"""Model versions: registered as draft, promoted to production one at a time per name.

The database holds at most one ``production`` row per name (a partial unique index), so
promoting archives the current production version in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tonebridge.errors import ConflictError, IntegrityError
from tonebridge.storage._support import (
    DEFAULT_LIMIT,
    existing_ids,
    get_row,
    matching,
    page,
    require_reference,
    to_record,
)
from tonebridge.storage.db import Database
from tonebridge.storage.dialects import insert_ignoring_duplicates
from tonebridge.storage.orm import ModelRow, TrainingJobRow, new_id
from tonebridge.storage.records import MODEL_STATUSES, ModelRecord, ModelStatus, Promotion
from tonebridge.storage.types import utc_now

BASE_VERSION = "base"
_BASE_NAMESPACE = uuid.UUID("5d1c3f0e-7a38-4c4e-9d55-2f0b6f0c1b7e")


def base_model_id(name: str) -> str:
    """The id :meth:`ModelRepository.ensure_base` gives a base model: stable across runs."""
    return uuid.uuid5(_BASE_NAMESPACE, name).hex


class ModelRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        *,
        name: str,
        version: str,
        model_type: str,
        base_model: str,
        path: str,
        training_job_id: str | None = None,
        metrics: dict[str, Any] | None = None,
        mlflow_run_id: str | None = None,
        lineage: dict[str, Any] | None = None,
        model_id: str | None = None,
    ) -> ModelRecord:
        """Register a draft version. Adding the same ``model_id`` again is a no-op.

        IntegrityError if ``name``/``version`` belongs to another model or the job is unknown.
        """
        row = ModelRow(
            id=model_id or new_id(),
            name=name,
            version=version,
            model_type=model_type,
            base_model=base_model,
            path=path,
            training_job_id=training_job_id,
            metrics=metrics or {},
            mlflow_run_id=mlflow_run_id,
            lineage=lineage or {},
            status="draft",
            created_at=utc_now(),
        )
        async with self._db.write() as session:
            if model_id is not None and (existing := await session.get(ModelRow, model_id)):
                return to_record(existing, ModelRecord)
            await require_reference(session, TrainingJobRow, training_job_id, "training_job_id")
            await _require_free_version(session, name, version)
            session.add(row)
            await session.flush()
            return to_record(row, ModelRecord)

    async def ensure_base(
        self,
        name: str,
        base_model: str,
        model_type: str = "tone_adjustment",
        *,
        model_id: str | None = None,
        path: str | None = None,
    ) -> ModelRecord:
        """The row for an untrained base model (version ``base``), made once, in production.

        Feedback must name a model row; this gives the base model one. It is created in
        production only if the name has no production version yet, else as archived.
        """
        async with self._db.write() as session:
            existing = await _by_version(session, name, BASE_VERSION)
            if existing is not None:
                return to_record(existing, ModelRecord)
            has_production = await _production(session, name) is not None
            values = {
                "id": model_id or base_model_id(name),
                "name": name,
                "version": BASE_VERSION,
                "model_type": model_type,
                "base_model": base_model,
                "path": path or base_model,
                "status": "archived" if has_production else "production",
                "deployed_at": None if has_production else utc_now(),
                "created_at": utc_now(),
            }
            insert = insert_ignoring_duplicates(self._db.dialect, ModelRow, ["name", "version"])
            await session.execute(insert.values(values))
            row = await _by_version(session, name, BASE_VERSION)
            if row is None:  # a concurrent writer took the id for another name/version
                msg = f"model id {values['id']!r} is already used by another model"
                raise IntegrityError(msg)
            return to_record(row, ModelRecord)

    async def discard_draft(self, model_id: str) -> bool:
        """Delete ``model_id`` if it is still a draft (a registration undone); True if gone."""
        statement = (
            delete(ModelRow)
            .where(ModelRow.id == model_id, ModelRow.status == "draft")
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as session:
            return bool((await session.execute(statement)).rowcount)  # type: ignore[attr-defined]

    async def get(self, model_id: str) -> ModelRecord:
        async with self._db.read() as session:
            return to_record(await get_row(session, ModelRow, model_id, "model"), ModelRecord)

    async def existing(self, model_ids: set[str]) -> set[str]:
        """Which of ``model_ids`` are registered, in one query."""
        async with self._db.read() as session:
            return await existing_ids(session, ModelRow.id, model_ids)

    async def list(
        self,
        *,
        status: ModelStatus | None = None,
        model_type: str | None = None,
        name: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[ModelRecord]:
        """Newest first."""
        where: list[ColumnElement[bool]] = []
        filters = ((ModelRow.status, status), (ModelRow.model_type, model_type))
        for column, value in (*filters, (ModelRow.name, name)):
            if value is not None:
                where.append(column == value)
        query = select(ModelRow).where(*where).order_by(ModelRow.created_at.desc(), ModelRow.id)
        async with self._db.read() as session:
            rows = await session.scalars(page(query, limit, offset))
            return [to_record(row, ModelRecord) for row in rows]

    async def names(
        self, search: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[str, ...]:
        """Model names in order, those containing ``search`` (any case) when given."""
        query = select(ModelRow.name).distinct().order_by(ModelRow.name)
        if search:
            query = query.where(matching(ModelRow.name, search))
        async with self._db.read() as session:
            return tuple(await session.scalars(page(query, limit, offset)))

    async def get_production(self, name: str) -> ModelRecord | None:
        async with self._db.read() as session:
            row = await _production(session, name)
            return None if row is None else to_record(row, ModelRecord)

    async def previous_production(self, name: str) -> ModelRecord | None:
        """The version deployed before the current production one: the rollback target."""
        query = (
            select(ModelRow)
            .where(
                ModelRow.name == name,
                ModelRow.status != "production",
                ModelRow.deployed_at.is_not(None),
            )
            .order_by(ModelRow.deployed_at.desc())
            .limit(1)
        )
        async with self._db.read() as session:
            row = await session.scalar(query)
            return None if row is None else to_record(row, ModelRecord)

    async def next_version(self, name: str) -> str:
        """One more than the highest numeric version of ``name`` ("1" for a new name)."""
        async with self._db.read() as session:
            versions = await session.scalars(select(ModelRow.version).where(ModelRow.name == name))
            numbers = [int(version) for version in versions if version.isdigit()]
        return str(max(numbers, default=0) + 1)

    async def promote(self, model_id: str) -> Promotion:
        """Make ``model_id`` production, archiving the one it replaces. Idempotent."""
        async with self._db.write() as session:
            row = await get_row(session, ModelRow, model_id, "model")
            if row.status == "production":
                return Promotion(model=to_record(row, ModelRecord), replaced=None)
            replaced = await _archive_production(session, row.name)
            row.status = "production"
            row.deployed_at = utc_now()
            await session.flush()
            return Promotion(model=to_record(row, ModelRecord), replaced=replaced)

    async def set_status(self, model_id: str, status: ModelStatus) -> ModelRecord:
        """Move a model to ``status``; ``production`` goes through :meth:`promote`."""
        if status not in MODEL_STATUSES:
            msg = f"{status!r} is not a model status {MODEL_STATUSES}"
            raise ValueError(msg)
        if status == "production":
            return (await self.promote(model_id)).model
        async with self._db.write() as session:
            row = await get_row(session, ModelRow, model_id, "model")
            row.status = status
            await session.flush()
            return to_record(row, ModelRecord)


async def _by_version(session: AsyncSession, name: str, version: str) -> ModelRow | None:
    query = select(ModelRow).where(ModelRow.name == name, ModelRow.version == version)
    return await session.scalar(query)


async def _production(session: AsyncSession, name: str) -> ModelRow | None:
    query = select(ModelRow).where(ModelRow.name == name, ModelRow.status == "production")
    return await session.scalar(query)


async def _require_free_version(session: AsyncSession, name: str, version: str) -> None:
    taken = await _by_version(session, name, version)
    if taken is not None:
        msg = f"model {name!r} version {version!r} already exists (id {taken.id!r})"
        raise IntegrityError(msg)


async def _archive_production(session: AsyncSession, name: str) -> ModelRecord | None:
    current = await _production(session, name)
    if current is None:
        return None
    statement = (
        update(ModelRow)
        .where(ModelRow.id == current.id, ModelRow.status == "production")
        .values(status="archived")
        .execution_options(synchronize_session=False)
    )
    if (await session.execute(statement)).rowcount != 1:  # type: ignore[attr-defined]
        msg = f"production version of {name!r} changed concurrently; retry the promotion"
        raise ConflictError(msg)
    await session.refresh(current)
    return to_record(current, ModelRecord)
