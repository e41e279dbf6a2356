"""Checks a training request the way the trainer will, so mistakes are a 422 now rather
than a failed job later: the base model must have open weights, the options must fit the
method's config. Uses the trainer's own config classes (pydantic, no torch import)."""

from __future__ import annotations

from typing import Any

from tonebridge.api.jobs import field_error
from tonebridge.api.schemas.training import JobRequest
from tonebridge.api.services import ApiServices
from tonebridge.errors import TrainingError, UnsupportedModelError


async def resolve_base_model(services: ApiServices, request: JobRequest) -> str:
    """``base_model``, else the base model of ``model_id`` (404 if that model is unknown)."""
    if request.model_id is not None:
        model = await services.repos.models.get(request.model_id)
        return request.base_model or model.base_model
    assert request.base_model is not None  # noqa: S101 - the schema requires one of the two
    return request.base_model


async def require_dataset(services: ApiServices, dataset_id: str | None, kind: str) -> None:
    """404 for an unknown dataset; 422 naming ``dataset_id`` if its rows are not the ones a
    ``kind`` job reads (a dataset that does not record its row format is left to the job)."""
    if dataset_id is None:
        return
    from tonebridge.handlers.methods.registry import dataset_format

    dataset = await services.repos.datasets.get(dataset_id)
    held, wanted = dataset.lineage.get("format"), dataset_format(kind)
    if isinstance(held, str) and held != wanted:
        message = f"dataset {dataset_id!r} holds {held} rows; a {kind} job reads {wanted} rows"
        field_error(("body", "dataset_id"), message, dataset_id)


def check_options(
    services: ApiServices, kind: str, base_model: str, options: dict[str, Any]
) -> None:
    """422 naming ``base_model`` (API-only model) or ``hyperparameters`` (bad option)."""
    from tonebridge.handlers.methods.dispatch import make_config

    try:
        make_config(kind, base_model, options, settings=services.settings)
    except UnsupportedModelError as exc:
        message = f"{exc}: LoRA/QLoRA need the model's weights; choose an open-weights model"
        field_error(("body", "base_model"), message, base_model)
    except TrainingError as exc:
        field_error(("body", "hyperparameters"), str(exc), options)
