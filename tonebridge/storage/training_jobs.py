"""Training jobs: created once per command, moved through their states by one trainer.

::

    pending ──mark_running──> running ──finish──> completed | failed | stopped
       │                        │
       └─request_stop/finish──> stopped | failed   (a trainer never picked it up)

A running job carries a heartbeat (``heartbeat_at``) that its trainer refreshes (``beat``,
and every progress write); ``fail_expired`` fails the running jobs whose heartbeat is older
than a lease, whoever ran them.

Every transition is one conditional UPDATE, so two trainers racing for a job (or a stop
racing a start) cannot both win; the loser gets :class:`ConflictError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tonebridge.errors import ConflictError, IntegrityError, NotFoundError
from tonebridge.job_kinds import JobKind
from tonebridge.storage._support import (
    DEFAULT_LIMIT,
    get_row,
    matching,
    page,
    require_reference,
    to_record,
)
from tonebridge.storage.db import Database
from tonebridge.storage.dialects import insert_ignoring_duplicates
from tonebridge.storage.orm import DatasetRow, ModelRow, TrainingJobRow, new_id
from tonebridge.storage.records import (
    FINAL_JOB_STATUSES,
    FinalJobStatus,
    JobStatus,
    TrainingJobRecord,
)
from tonebridge.storage.types import utc_now

Job = TrainingJobRow
JobIds = list[str]  # an alias: inside the class, ``list`` is the method


class TrainingJobRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_from_command(
        self,
        *,
        command_id: str,
        kind: JobKind,
        base_model: str | None,
        model_type: str = "tone_adjustment",
        dataset_id: str | None = None,
        parent_model_id: str | None = None,
        config: dict[str, Any] | None = None,
        hyperparameters: dict[str, Any] | None = None,
        requested_by: str | None = None,
        job_id: str | None = None,
    ) -> tuple[TrainingJobRecord, bool]:
        """The job for ``command_id``, made now (``True``) or by an earlier delivery."""
        values = {
            "id": job_id or new_id(),
            "command_id": command_id,
            "kind": kind,
            "model_type": model_type,
            "base_model": base_model,
            "dataset_id": dataset_id,
            "parent_model_id": parent_model_id,
            "config": config or {},
            "hyperparameters": hyperparameters or {},
            "requested_by": requested_by,
            "created_at": utc_now(),
        }
        async with self._db.write() as session:
            await require_reference(session, DatasetRow, dataset_id, "dataset_id")
            await require_reference(session, ModelRow, parent_model_id, "parent_model_id")
            insert = insert_ignoring_duplicates(self._db.dialect, Job, ["command_id"])
            created = await session.scalar(insert.values(values).returning(Job.id))
            row = await _by_command(session, command_id)
            return to_record(row, TrainingJobRecord), created is not None

    async def get(self, job_id: str) -> TrainingJobRecord:
        async with self._db.read() as session:
            return to_record(await get_row(session, Job, job_id, "training job"), TrainingJobRecord)

    async def get_by_command_id(self, command_id: str) -> TrainingJobRecord:
        async with self._db.read() as session:
            return to_record(await _by_command(session, command_id), TrainingJobRecord)

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        kind: JobKind | None = None,
        model_type: str | None = None,
        model_id: str | None = None,
        search: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[TrainingJobRecord]:
        """Newest first; each filter given narrows the list (``model_id``: the model improved;
        ``search``: in the job id, any case)."""
        filters = (
            (Job.status, status),
            (Job.kind, kind),
            (Job.model_type, model_type),
            (Job.parent_model_id, model_id),
        )
        where = [column == value for column, value in filters if value is not None]
        if search:
            where.append(matching(Job.id, search))
        query = select(Job).where(*where).order_by(Job.created_at.desc(), Job.id)
        async with self._db.read() as session:
            rows = await session.scalars(page(query, limit, offset))
            return [to_record(row, TrainingJobRecord) for row in rows]

    async def mark_running(self, job_id: str, worker_id: str) -> TrainingJobRecord:
        """Claim a pending job for ``worker_id``; ConflictError if it is not pending."""
        now = utc_now()
        changes = {"status": "running", "worker_id": worker_id, "started_at": now}
        changes["heartbeat_at"] = now
        return await self._transition(job_id, ("pending",), changes, "start")

    async def beat(self, job_id: str, worker_id: str) -> bool:
        """Refresh the heartbeat of ``worker_id``'s running job; False if it runs no more."""
        statement = (
            update(Job)
            .where(Job.id == job_id, Job.status == "running", Job.worker_id == worker_id)
            .values(heartbeat_at=utc_now())
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as session:
            return bool((await session.execute(statement)).rowcount == 1)  # type: ignore[attr-defined]

    async def update_progress(
        self, job_id: str, progress: float, metrics: dict[str, Any] | None = None
    ) -> TrainingJobRecord:
        """Record progress (0..1) of a running job; the record tells if a stop was asked."""
        if not 0.0 <= progress <= 1.0:
            msg = f"progress {progress} is outside 0..1"
            raise IntegrityError(msg)
        changes: dict[str, Any] = {"progress": progress, "heartbeat_at": utc_now()}
        if metrics is not None:
            changes["metrics"] = metrics
        return await self._transition(job_id, ("running",), changes, "update progress of")

    async def request_stop(self, job_id: str) -> TrainingJobRecord:
        """Ask a running job to stop; a pending one stops at once. Stopping twice is a no-op.

        ConflictError if the job already completed or failed.
        """
        stop_now = {"status": "stopped", "stop_requested": True, "completed_at": utc_now()}
        async with self._db.write() as session:
            row = await _update(session, job_id, ("running",), {"stop_requested": True})
            row = row or await _update(session, job_id, ("pending",), stop_now)
            row = row or await get_row(session, Job, job_id, "training job")
            if row.status in ("running", "stopped"):
                return to_record(row, TrainingJobRecord)
        msg = f"cannot stop training job {job_id!r}: it is {row.status}"
        raise ConflictError(msg)

    async def finish(
        self,
        job_id: str,
        status: FinalJobStatus,
        metrics: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> TrainingJobRecord:
        """End a job. Only a running job can complete; a pending one can fail or stop."""
        if status not in FINAL_JOB_STATUSES:
            msg = f"{status!r} is not a final job status {FINAL_JOB_STATUSES}"
            raise ValueError(msg)
        changes: dict[str, Any] = {"status": status, "completed_at": utc_now()}
        if status == "completed":
            changes["progress"] = 1.0
        if metrics is not None:
            changes["metrics"] = metrics
        if error is not None:
            changes["error_message"] = error
        allowed = ("running",) if status == "completed" else ("pending", "running")
        return await self._transition(job_id, allowed, changes, f"mark {status}")

    async def fail_orphans(self, worker_id: str | None, reason: str) -> JobIds:
        """Fail the ``running`` jobs of ``worker_id`` (of every worker if ``None``).

        A trainer calls this when it starts: whatever it was running before a crash will
        never report again.
        """
        where: list[ColumnElement[bool]] = [Job.status == "running"]
        if worker_id is not None:
            where.append(Job.worker_id == worker_id)
        changes = {"status": "failed", "error_message": reason, "completed_at": utc_now()}
        statement = update(Job).where(*where).values(changes).returning(Job.id)
        async with self._db.write() as session:
            return sorted(await session.scalars(statement))

    async def fail_expired(self, older_than: datetime, reason: str) -> JobIds:
        """Fail the ``running`` jobs whose last heartbeat is before ``older_than``, any worker.

        A job without a heartbeat (started before heartbeats existed) counts from its start.
        """
        last_sign = func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at)
        changes = {"status": "failed", "error_message": reason, "completed_at": utc_now()}
        statement = (
            update(Job)
            .where(Job.status == "running", last_sign < older_than)
            .values(changes)
            .returning(Job.id)
        )
        async with self._db.write() as session:
            return sorted(await session.scalars(statement))

    async def _transition(
        self, job_id: str, allowed: Sequence[str], changes: dict[str, Any], action: str
    ) -> TrainingJobRecord:
        async with self._db.write() as session:
            row = await _update(session, job_id, allowed, changes)
            if row is not None:
                return to_record(row, TrainingJobRecord)
            current = await get_row(session, Job, job_id, "training job")
        msg = f"cannot {action} training job {job_id!r}: it is {current.status}"
        raise ConflictError(msg)


async def _update(
    session: AsyncSession, job_id: str, allowed: Sequence[str], changes: dict[str, Any]
) -> TrainingJobRow | None:
    """Apply ``changes`` if the job's status is in ``allowed``; the updated row, else None."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.status.in_(allowed))
        .values(changes)
        .returning(Job)
        .execution_options(synchronize_session=False)
    )
    return (await session.scalars(statement)).one_or_none()


async def _by_command(session: AsyncSession, command_id: str) -> TrainingJobRow:
    row = await session.scalar(select(Job).where(Job.command_id == command_id))
    if row is None:
        msg = f"no training job for command {command_id!r}"
        raise NotFoundError(msg)
    return row
