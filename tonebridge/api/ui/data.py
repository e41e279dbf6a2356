"""The dashboard pages' JSON under ``/ui/api``: a page of models, feedback, A/B tests or
jobs, with what their plots need. Admin only (the session cookie or a bearer key); the
pages' buttons use the API's own routes (deploy, rollback, stop) with the CSRF token."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from tonebridge.api.deps import Admin, PageOffset, Services
from tonebridge.api.jobs import job_status
from tonebridge.api.routes.abtests import results_of
from tonebridge.api.routes.registry import model_out
from tonebridge.api.services import ApiServices
from tonebridge.api.sessions import COOKIE
from tonebridge.api.ui.series import ab_point, feedback_charts
from tonebridge.errors import NotFoundError
from tonebridge.storage.records import ABTestRecord, ModelRecord, TrainingJobRecord

router = APIRouter(prefix="/ui/api", include_in_schema=False)
Search = Annotated[str | None, Query(max_length=200, description="Substring, any case.")]
Limit = Annotated[int, Query(ge=1, le=100)]
Json = dict[str, Any]


@router.get("/session")
async def session(request: Request, services: Services) -> Json:
    """The CSRF token the pages send with every action (readable by this origin only)."""
    current = services.sessions.verify(request.cookies.get(COOKIE))
    if current is None:
        raise HTTPException(401, "not logged in: log in at /ui/login")
    return {"csrf_token": services.sessions.csrf_token(current), "key_id": current.key_id}


def paged(items: list[Any], limit: int, offset: int) -> Json:
    return {"items": items[:limit], "offset": offset, "limit": limit, "more": len(items) > limit}


@router.get("/models")
async def models(
    services: Services, _: Admin, q: Search = None, limit: Limit = 20, offset: PageOffset = 0
) -> Json:
    """Model names, each with its versions (newest first), lineage and metrics vs parent."""
    names = await services.repos.models.names(q, limit + 1, offset)
    items = [await _named(services, name) for name in names[:limit]]
    return paged(items, limit, offset) | {"more": len(names) > limit}


async def _named(services: ApiServices, name: str) -> Json:
    versions = await services.repos.models.list(name=name, limit=100)
    return {"name": name, "versions": [await _version(services, v) for v in versions]}


async def _version(services: ApiServices, model: ModelRecord) -> Json:
    parent = await _parent(services, model)
    deltas = {
        key: value - parent.metrics[key]
        for key, value in model.metrics.items()
        if parent is not None and _numbers(value, parent.metrics.get(key))
    }
    out = model_out(model).model_dump(mode="json")
    return out | {"parent_model_id": parent.id if parent else None, "vs_parent": deltas}


async def _parent(services: ApiServices, model: ModelRecord) -> ModelRecord | None:
    """The model the version's training job started from, if it was trained."""
    try:
        job = await services.repos.jobs.get(model.training_job_id or "")
        return await services.repos.models.get(job.parent_model_id or "")
    except NotFoundError:
        return None


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


@router.get("/feedback")
async def feedback(
    services: Services, _: Admin, q: Search = None, limit: Limit = 10, offset: PageOffset = 0
) -> Json:
    """Per model with feedback: per type, the rating histogram and the windows' series;
    and the newest corrections."""
    reader = services.feedback_stats
    ids = [m for m in (reader.models() if reader else []) if not q or q.lower() in m.lower()]
    page = ids[offset : offset + limit + 1]
    items = [await _feedback_of(services, mid) for mid in page[:limit]]
    return paged(items, limit, offset) | {"more": len(page) > limit, "total": len(ids)}


async def _feedback_of(services: ApiServices, model_id: str) -> Json:
    state = services.feedback_stats.state(model_id) if services.feedback_stats else None
    corrections = await services.repos.feedback.latest_corrections(model_id, 5)
    return {
        "model_id": model_id,
        "label": await _label(services, model_id),
        "charts": feedback_charts(state) if state is not None else [],
        "corrections": [_correction(c) for c in corrections],
    }


async def _label(services: ApiServices, model_id: str) -> str:
    try:
        model = await services.repos.models.get(model_id)
    except NotFoundError:
        return model_id
    return f"{model.name} v{model.version}"


def _correction(event: Any) -> Json:
    return {
        "event_id": event.id,
        "type": event.transformation_type,
        "rating": event.rating,
        "input": event.input_text,
        "output": event.output_text,
        "corrected": event.corrected_text,
        "at": event.created_at.isoformat(),
    }


@router.get("/abtests")
async def abtests(
    services: Services, _: Admin, q: Search = None, limit: Limit = 10, offset: PageOffset = 0
) -> Json:
    """A/B tests, newest first, each with its state, verdict and plotted points."""
    tests = await services.repos.ab_tests.list(search=q, limit=limit + 1, offset=offset)
    return paged([_test(services, t) for t in tests], limit, offset)


def _test(services: ApiServices, test: ABTestRecord) -> Json:
    reader = services.ab_tests
    live = reader.test(test.id) if reader else None
    look = reader.look(test.id) if reader else None
    point = ab_point(int(time.time() * 1000), live, look)
    out = results_of(test, live).model_dump(mode="json")
    return out | {"look": look, "history": services.ab_history.record(test.id, point)}


@router.get("/training")
async def training(
    services: Services, _: Admin, q: Search = None, limit: Limit = 10, offset: PageOffset = 0
) -> Json:
    """Jobs, newest first, with their loss curves and dataset lineage."""
    jobs = await services.repos.jobs.list(search=q, limit=limit + 1, offset=offset)
    return paged([await _job(services, job) for job in jobs], limit, offset)


async def _job(services: ApiServices, job: TrainingJobRecord) -> Json:
    curve = services.loss_curves.curve(job.id) if services.loss_curves else []
    out = job_status(job).model_dump(mode="json")
    return out | {"loss_curve": curve, "dataset": await _dataset(services, job)}


async def _dataset(services: ApiServices, job: TrainingJobRecord) -> Json | None:
    if job.dataset_id is None:
        since = job.config.get("feedback_since")
        return {"source": "feedback", "feedback_since": since} if since else None
    try:
        data = await services.repos.datasets.get(job.dataset_id)
    except NotFoundError:
        return {"dataset_id": job.dataset_id}
    return {"dataset_id": data.id, "name": data.name, "lineage": data.lineage}
