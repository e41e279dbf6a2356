"""``POST /models``, ``GET /models``, ``GET /models/{model_id}``,
``POST /models/{model_id}/deploy|rollback``.

``POST /models`` registers a model no training job made (:mod:`tonebridge.registration`): a
base model or an external adapter, announced with a ModelRegistered event.

Deploy and rollback are commands to the registry (``tonebridge.models.commands.v1``); it
moves the ``production`` alias and announces the move with a ModelChanged event, which
inference services follow (``tonebridge models watch``, :mod:`tonebridge.client.watch`).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Body

from tonebridge.api.auth import Principal
from tonebridge.api.commands import command_id_for, requested_by
from tonebridge.api.deps import (
    Admin,
    IdempotencyKey,
    ModelFilter,
    ModelId,
    PageLimit,
    PageOffset,
    Responses,
    Services,
)
from tonebridge.api.jobs import field_error
from tonebridge.api.routing import IdempotentRoute
from tonebridge.api.schemas.registry import (
    DeployRequest,
    ModelCommandAccepted,
    ModelOut,
    ModelPage,
    ModelRegistration,
    ModelStatus,
    RegisteredModel,
)
from tonebridge.api.services import ApiServices
from tonebridge.decisions.registry_rules import (
    check_deploy,
    check_predecessor,
    check_rollback,
    of_row,
)
from tonebridge.errors import InvalidEventError
from tonebridge.registration import ModelSpec, add_model, resolve
from tonebridge.storage.records import ModelRecord
from tonebridge.topics.models import (
    MODEL_COMMAND,
    MODEL_COMMANDS_TOPIC,
    MODEL_EVENTS_TOPIC,
    MODEL_REGISTERED,
    model_command,
)

router = APIRouter(prefix="/models", tags=["registry"], route_class=IdempotentRoute)
_NOT_FOUND: Responses = {404: {"description": "Unknown model."}}
_CONFLICT: Responses = {409: {"description": "The model is not in a state that allows this."}}


@router.post(
    "",
    status_code=201,
    responses={409: {"description": "The id, or the name and version, is registered otherwise."}},
    summary="Register a base model or an external adapter",
)
async def register_model(body: ModelRegistration, services: Services, _: Admin) -> RegisteredModel:
    """Adds the ``models`` row and sends ModelRegistered. Registering the same model again
    answers the same and resends the same event (consumers deduplicate on its id)."""
    token = services.settings.huggingface_token
    spec = ModelSpec(**body.model_dump())
    try:
        spec = await asyncio.to_thread(resolve, spec, token.get_secret_value() if token else None)
    except InvalidEventError as exc:
        field_error(("body", exc.field or "source"), str(exc), getattr(body, exc.field or "source"))
    done = await add_model(services.repos.models, spec)
    await services.publish(MODEL_EVENTS_TOPIC, [done.event], MODEL_REGISTERED)
    return RegisteredModel(**model_out(done.model).model_dump(), event_id=done.event["event_id"])


@router.get("", summary="Registered model versions, newest first")
async def list_models(
    services: Services,
    _: Admin,
    status: ModelStatus | None = None,
    name: ModelFilter = None,
    model_type: ModelFilter = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ModelPage:
    models = await services.repos.models.list(
        status=status, name=name, model_type=model_type, limit=limit, offset=offset
    )
    return ModelPage(items=[model_out(m) for m in models], limit=limit, offset=offset)


@router.get("/{model_id}", responses=_NOT_FOUND, summary="One model version")
async def get_model(model_id: ModelId, services: Services, _: Admin) -> ModelOut:
    return model_out(await services.repos.models.get(model_id))


@router.post(
    "/{model_id}/deploy",
    status_code=202,
    responses={**_NOT_FOUND, **_CONFLICT},
    summary="Make this version the production one",
)
async def deploy_model(
    model_id: ModelId,
    services: Services,
    principal: Admin,
    key: IdempotencyKey,
    body: Annotated[DeployRequest | None, Body()] = None,
) -> ModelCommandAccepted:
    model = await services.repos.models.get(model_id)
    check_deploy(of_row(model))
    return await _command(services, principal, key, "deploy", model, body)


@router.post(
    "/{model_id}/rollback",
    status_code=202,
    responses={**_NOT_FOUND, **_CONFLICT},
    summary="Put the previous production version back",
)
async def rollback_model(
    model_id: ModelId,
    services: Services,
    principal: Admin,
    key: IdempotencyKey,
    body: Annotated[DeployRequest | None, Body()] = None,
) -> ModelCommandAccepted:
    """Only the current production version can be rolled back."""
    model = await services.repos.models.get(model_id)
    check_rollback(of_row(model))
    check_predecessor(repr(model.name), await services.repos.models.previous_production(model.name))
    return await _command(services, principal, key, "rollback", model, body)


async def _command(
    services: ApiServices,
    principal: Principal,
    key: str | None,
    action: Literal["deploy", "rollback"],
    model: ModelRecord,
    body: DeployRequest | None,
) -> ModelCommandAccepted:
    command_id = command_id_for(principal, key, f"/models/{model.id}/{action}")
    reason = body.reason if body else None
    command = model_command(
        command_id=command_id,
        action=action,
        model_id=model.id,
        requested_by=requested_by(principal),
        reason=reason,
    )
    await services.publish(MODEL_COMMANDS_TOPIC, [command], MODEL_COMMAND)
    url = f"/models/{model.id}"
    return ModelCommandAccepted(
        command_id=command_id, model_id=model.id, action=action, status_url=url
    )


def model_out(model: ModelRecord) -> ModelOut:
    return ModelOut(
        model_id=model.id,
        name=model.name,
        version=model.version,
        model_type=model.model_type,
        base_model=model.base_model,
        status=model.status,
        artifact_uri=model.path,
        metrics=model.metrics,
        lineage=model.lineage,
        training_job_id=model.training_job_id,
        mlflow_run_id=model.mlflow_run_id,
        deployed_at=model.deployed_at,
        created_at=model.created_at,
    )
