"""``POST /evaluate/{model_id}`` and ``POST /evaluate/compare``: evaluation jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from tonebridge.api.auth import Principal
from tonebridge.api.commands import command_id_for, requested_by
from tonebridge.api.deps import Admin, IdempotencyKey, ModelId, Responses, Services
from tonebridge.api.jobs import submit_job
from tonebridge.api.routing import IdempotentRoute
from tonebridge.api.schemas.training import CompareRequest, EvaluateRequest, JobAccepted
from tonebridge.api.services import ApiServices
from tonebridge.api.training_options import require_dataset
from tonebridge.topics.training import training_command

router = APIRouter(prefix="/evaluate", tags=["evaluation"], route_class=IdempotentRoute)
_ERRORS: Responses = {404: {"description": "Unknown model or dataset."}}


# Declared before /{model_id}, which would otherwise take "compare" for a model id.
@router.post("/compare", status_code=202, responses=_ERRORS, summary="Compare two models")
async def compare_models(
    body: CompareRequest, services: Services, principal: Admin, key: IdempotencyKey
) -> JobAccepted:
    """Evaluate both on the same held-out set; a paired bootstrap says which is better."""
    request = EvaluateRequest(
        dataset_id=body.dataset_id, baseline_model_id=body.baseline_model_id, reason=body.reason
    )
    return await _evaluate(services, principal, key, body.model_id, request, "/evaluate/compare")


@router.post("/{model_id}", status_code=202, responses=_ERRORS, summary="Evaluate a model")
async def evaluate_model(
    model_id: ModelId,
    services: Services,
    principal: Admin,
    key: IdempotencyKey,
    body: Annotated[EvaluateRequest | None, Body()] = None,
) -> JobAccepted:
    """Held-out loss, perplexity, chrF/BLEU and preference accuracy of one model."""
    request = body or EvaluateRequest()
    return await _evaluate(services, principal, key, model_id, request, f"/evaluate/{model_id}")


async def _evaluate(
    services: ApiServices,
    principal: Principal,
    key: str | None,
    model_id: str,
    request: EvaluateRequest,
    purpose: str,
) -> JobAccepted:
    model = await services.repos.models.get(model_id)
    if request.baseline_model_id is not None:
        await services.repos.models.get(request.baseline_model_id)
    await require_dataset(services, request.dataset_id, "evaluate")
    command_id = command_id_for(principal, key, purpose)
    command = training_command(
        command_id=command_id,
        kind="evaluate",
        requested_by=requested_by(principal),
        job_id=command_id,
        model_id=model_id,
        baseline_model_id=request.baseline_model_id,
        base_model=model.base_model,
        model_type=model.model_type,
        dataset_id=request.dataset_id,
        reason=request.reason,
    )
    config = {"baseline_model_id": request.baseline_model_id}
    url = "/train/{job_id}/status"
    return await submit_job(services, command, status_path=url, hyperparameters={}, config=config)
