"""``POST /rlhf/start`` and ``GET /rlhf/{job_id}/status``."""

from __future__ import annotations

from fastapi import APIRouter

from tonebridge.api.commands import command_id_for, requested_by
from tonebridge.api.deps import Admin, IdempotencyKey, JobId, Responses, Services
from tonebridge.api.jobs import job_status, submit_job
from tonebridge.api.routing import IdempotentRoute
from tonebridge.api.schemas.training import JobAccepted, JobStatus, RLHFRequest
from tonebridge.api.training_options import check_options, require_dataset, resolve_base_model
from tonebridge.errors import NotFoundError
from tonebridge.topics.training import training_command

router = APIRouter(prefix="/rlhf", tags=["rlhf"], route_class=IdempotentRoute)
_ERRORS: Responses = {404: {"description": "Unknown model, dataset or RLHF job."}}


@router.post("/start", status_code=202, responses=_ERRORS, summary="Start an RLHF job")
async def start_rlhf(
    body: RLHFRequest, services: Services, principal: Admin, key: IdempotencyKey
) -> JobAccepted:
    """Train a reward model on the ratings, then a LoRA policy against it (GRPO/RLOO)."""
    base_model = await resolve_base_model(services, body)
    options = {**body.hyperparameters, "algorithm": body.algorithm}
    check_options(services, "rlhf", base_model, options)
    await require_dataset(services, body.dataset_id, "rlhf")
    command_id = command_id_for(principal, key, "/rlhf/start")
    command = training_command(
        command_id=command_id,
        kind="rlhf",
        requested_by=requested_by(principal),
        job_id=command_id,
        model_id=body.model_id,
        base_model=base_model,
        model_type=body.model_type,
        dataset_id=body.dataset_id,
        feedback_since=body.feedback_since,
        config=options,
        reason=body.reason,
    )
    url = "/rlhf/{job_id}/status"
    return await submit_job(services, command, status_path=url, hyperparameters=options)


@router.get("/{job_id}/status", responses=_ERRORS, summary="An RLHF job's state and progress")
async def rlhf_status(job_id: JobId, services: Services, _: Admin) -> JobStatus:
    job = await services.repos.jobs.get(job_id)
    if job.kind != "rlhf":
        msg = f"job {job_id!r} is a {job.kind} job, not RLHF; see /train/{job_id}/status"
        raise NotFoundError(msg)
    return job_status(job)
