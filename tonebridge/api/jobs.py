"""Starting jobs (training, RLHF, evaluation): produce the command, then record the job.

The command goes to Kafka *before* the job row is written. If the broker refuses, nothing
was created and the client may simply retry (503). If the database write fails after the
broker took the command, the trainer still creates the very same job from the command
(``create_from_command`` is idempotent on ``command_id`` and the command carries
``job_id``), so no job is ever orphaned in ``pending``.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from fastapi.exceptions import RequestValidationError

from tonebridge.api.schemas.training import JobAccepted, JobStatus
from tonebridge.api.services import ApiServices
from tonebridge.avro.codec import Record
from tonebridge.errors import NotFoundError, StoreError
from tonebridge.storage.records import TrainingJobRecord
from tonebridge.topics.training import TRAINING_COMMAND, command_topic

log = logging.getLogger(__name__)


def field_error(location: tuple[str, ...], message: str, value: object) -> NoReturn:
    """Fail like pydantic does, so every 422 names its field the same way."""
    error = {"type": "value_error", "loc": location, "msg": message, "input": value}
    raise RequestValidationError([error])


async def submit_job(
    services: ApiServices,
    command: Record,
    *,
    status_path: str,
    hyperparameters: dict[str, Any],
    config: dict[str, Any] | None = None,
) -> JobAccepted:
    """Publish ``command`` (unless its job exists already) and record the pending job."""
    existing = await _existing_job(services, command["command_id"])
    if existing is not None:
        return _accepted(existing.id, existing.command_id, existing.status, status_path)
    await services.publish(command_topic(command), [command], TRAINING_COMMAND)
    try:
        job, _ = await services.repos.jobs.create_from_command(
            command_id=command["command_id"],
            kind=command["kind"],
            base_model=command["base_model"],
            model_type=command["model_type"],
            dataset_id=command["dataset_id"],
            parent_model_id=command["model_id"],
            config=config or {},
            hyperparameters=hyperparameters,
            requested_by=command["requested_by"],
            job_id=command["job_id"],
        )
    except StoreError as exc:
        log.warning("job %s is on Kafka but not yet in the database: %s", command["job_id"], exc)
        return _accepted(command["job_id"], command["command_id"], "pending", status_path)
    # The trainer may have created the job first; its row is the truth.
    return _accepted(job.id, job.command_id, job.status, status_path)


async def _existing_job(services: ApiServices, command_id: str) -> TrainingJobRecord | None:
    try:
        return await services.repos.jobs.get_by_command_id(command_id)
    except NotFoundError:
        return None


def _accepted(job_id: str, command_id: str, status: str, path: str) -> JobAccepted:
    """``path`` is the status route with ``{job_id}`` in it."""
    url = path.format(job_id=job_id)
    return JobAccepted(job_id=job_id, command_id=command_id, status=status, status_url=url)


def job_status(job: TrainingJobRecord) -> JobStatus:
    return JobStatus(
        job_id=job.id,
        command_id=job.command_id,
        kind=job.kind,
        status=job.status,
        progress=job.progress,
        stop_requested=job.stop_requested,
        base_model=job.base_model,
        model_type=job.model_type,
        dataset_id=job.dataset_id,
        parent_model_id=job.parent_model_id,
        metrics=job.metrics,
        error_message=job.error_message,
        requested_by=job.requested_by,
        created_at=job.created_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
    )
