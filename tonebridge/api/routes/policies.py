"""``GET /policies``: what retraining runs, and how close each policy is to firing."""

from __future__ import annotations

from fastapi import APIRouter

from tonebridge.api.deps import Admin, Fresh, ModelFilter, Services
from tonebridge.api.schemas.policies import Policies, PolicyState, PolicyView
from tonebridge.api.services import ApiServices, FeedbackStatsReader
from tonebridge.errors import BrokerError

router = APIRouter(tags=["policies"])


@router.get("/policies", summary="Retraining policies and their progress per model")
async def get_policies(
    services: Services,
    _: Admin,
    model_id: ModelFilter = None,
    fresh: Fresh = False,
) -> Policies:
    """Each policy the worker runs on these settings, with, per model that has feedback,
    its measure against its threshold and its cooldown (from the feedback agent's table)."""
    reader = _reader(services)
    if fresh:
        await reader.sync()
    ids = [model_id] if model_id is not None else reader.models()
    states: dict[str, dict[str, PolicyState]] = {p.name: {} for p in services.policies}
    for mid in ids:
        for progress in reader.progress(mid, services.policies) or ():
            states[progress.policy][mid] = PolicyState.of(progress)
    return Policies(
        enabled=services.settings.retrain_enabled,
        source=_source(services),
        policies=[PolicyView.of(p, states[p.name]) for p in services.policies],
    )


def _reader(services: ApiServices) -> FeedbackStatsReader:
    if services.feedback_stats is None:
        msg = "the feedback statistics are not available (the app was not started)"
        raise BrokerError(msg)
    return services.feedback_stats


def _source(services: ApiServices) -> str:
    configured = services.settings.retrain_policies_file
    return "default" if configured is None else str(configured)
