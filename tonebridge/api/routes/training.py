"""``POST /train``, ``GET /train``, ``GET /train/{job_id}/status``,
``POST /train/{job_id}/stop``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from tonebridge.api.commands import command_id_for, requested_by
from tonebridge.api.deps import (
    Admin,
    Filter,
    IdempotencyKey,
    JobId,
    PageLimit,
    PageOffset,
    Responses,
    Services,
)
from tonebridge.api.jobs import job_status, submit_job
from tonebridge.api.routing import IdempotentRoute
from tonebridge.api.schemas.training import (
    JobAccepted,
    JobPage,
    JobStatus,
    StopRequest,
    TrainRequest,
)
from tonebridge.api.training_options import check_options, require_dataset, resolve_base_model
from tonebridge.errors import ConflictError
from tonebridge.job_kinds import JobKind
from tonebridge.storage.records import JobStatus as JobState
from tonebridge.topics.training import TRAINING_COMMAND, TRAINING_CONTROL_TOPIC, training_command

router = APIRouter(prefix="/train", tags=["training"], route_class=IdempotentRoute)
_ERRORS: Responses = {404: {"description": "Unknown model or dataset."}}


@router.post("", status_code=202, responses=_ERRORS, summary="Start a training job")
async def start_training(
    body: TrainRequest, services: Services, principal: Admin, key: IdempotencyKey
) -> JobAccepted:
    """Queue a LoRA/QLoRA/DPO/KTO/ORPO run; the response's ``job_id`` is the command id."""
    base_model = await resolve_base_model(services, body)
    check_options(services, body.method, base_model, body.hyperparameters)
    await require_dataset(services, body.dataset_id, body.method)
    command_id = command_id_for(principal, key, "/train")
    command = training_command(
        command_id=command_id,
        kind=body.method,
        requested_by=requested_by(principal),
        job_id=command_id,
        model_id=body.model_id,
        base_model=base_model,
        model_type=body.model_type,
        dataset_id=body.dataset_id,
        feedback_since=body.feedback_since,
        config={**body.hyperparameters, **body.trainer_options()},
        reason=body.reason,
    )
    url = "/train/{job_id}/status"
    return await submit_job(
        services, command, status_path=url, hyperparameters=body.hyperparameters
    )


@router.get("", summary="Training jobs, newest first")
async def list_jobs(
    services: Services,
    _: Admin,
    status: JobState | None = None,
    kind: JobKind | None = None,
    model_type: Filter = None,
    model_id: Annotated[
        str | None, Query(min_length=1, max_length=255, description="Jobs improving this model.")
    ] = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> JobPage:
    """Jobs of every kind (training, RLHF, evaluation); each filter given narrows the list."""
    jobs = await services.repos.jobs.list(
        status=status,
        kind=kind,
        model_type=model_type,
        model_id=model_id,
        limit=limit,
        offset=offset,
    )
    return JobPage(items=[job_status(job) for job in jobs], limit=limit, offset=offset)


@router.get("/{job_id}/status", responses=_ERRORS, summary="A job's state and progress")
async def training_status(job_id: JobId, services: Services, _: Admin) -> JobStatus:
    return job_status(await services.repos.jobs.get(job_id))


@router.post(
    "/{job_id}/stop",
    status_code=202,
    responses={**_ERRORS, 409: {"description": "The job has already finished."}},
    summary="Ask a running job to stop",
)
async def stop_training(
    job_id: JobId,
    services: Services,
    principal: Admin,
    key: IdempotencyKey,
    body: Annotated[StopRequest | None, Body()] = None,
) -> JobStatus:
    """A pending job stops at once; a running one stops after its current step."""
    job = await services.repos.jobs.get(job_id)
    if job.finished:
        msg = f"training job {job_id!r} has already finished ({job.status})"
        raise ConflictError(msg)
    stopping = await services.repos.jobs.request_stop(job_id)
    command_id = command_id_for(principal, key, f"/train/{job_id}/stop")
    reason = body.reason if body else None
    command = training_command(
        command_id=command_id,
        kind="stop",
        requested_by=requested_by(principal),
        job_id=job_id,
        reason=reason,
    )
    await services.publish(TRAINING_CONTROL_TOPIC, [command], TRAINING_COMMAND)
    return job_status(stopping)
