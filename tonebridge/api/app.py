"""The FastAPI application: ``create_app(settings)``; ``tonebridge api`` serves it."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from tonebridge.agents.views import ABTestsView, FeedbackStatsView
from tonebridge.api import ingress
from tonebridge.api.auth import LoopbackHostGuard, check_exposure
from tonebridge.api.deps import Responses
from tonebridge.api.docs import DocsPolicy
from tonebridge.api.errors import install_error_handlers
from tonebridge.api.guard_store import GuardStore
from tonebridge.api.ingest_route import fast_lanes
from tonebridge.api.metrics import MetricsMiddleware
from tonebridge.api.probes import broker_probe, database_probe
from tonebridge.api.routes import (
    abtests,
    datasets,
    evaluation,
    feedback,
    health,
    policies,
    registry,
    rlhf,
    training,
)
from tonebridge.api.services import (
    ABTestReader,
    ApiServices,
    FeedbackStatsReader,
    LossCurveReader,
)
from tonebridge.settings import Settings, get_settings
from tonebridge.storage.db import Database

if TYPE_CHECKING:
    from tonebridge.client.publisher import Publisher

DESCRIPTION = """
Commands (training, evaluation, A/B tests, deployments) go onto their Kafka topics and are
answered with **202 Accepted** and an id to poll; reads come from the database and the stream
agents' state. The API never trains or aggregates itself.

Send `Authorization: Bearer <key>`: `ingest` keys may post feedback and outcomes, `admin`
keys everything. POSTs accept an `Idempotency-Key` header: a retry with the same key and body
gets the first response back (`Idempotent-Replayed: true`) and acts only once.
"""
# A full batch (1000 events) is a few MB; anything far larger is refused before it is read.
MAX_BODY_BYTES = 8 * 1024 * 1024
UPLOAD_FRAMING_BYTES = 64 * 1024  # multipart boundaries, part headers and form fields
_GUARDED: Responses = {
    401: {"description": "Missing or unknown API key."},
    403: {"description": "The API key lacks the scope."},
    429: {"description": "Rate limit exceeded; see Retry-After."},
    503: {"description": "The broker or the database is unavailable; retry later."},
}


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    publisher: Publisher | None = None,
    guard_store: GuardStore | None = None,
    views: AgentViews | None = None,
) -> FastAPI:
    """Build the app; raises ConfigError when it would serve without keys off loopback.

    ``database``, ``publisher`` and the agents' ``views`` are opened from ``settings`` when
    the app starts unless given (then the caller closes them).
    """
    settings = settings or get_settings()
    services = ApiServices.build(settings, guard_store)
    check_exposure(services.authenticator, settings.api_host)
    # Swagger UI and ReDoc from fastapi-offline's own copies of their assets, not a CDN.
    app = FastAPIOffline(
        title="tonebridge",
        version="0.1.0",
        description=DESCRIPTION,
        max_body_size=MAX_BODY_BYTES,
        lifespan=_lifespan(services, database, publisher, views, owns_store=guard_store is None),
    )
    app.state.services = services
    if not services.authenticator.enabled:  # open API: only for requests sent to loopback
        app.add_middleware(LoopbackHostGuard, api_host=settings.api_host)
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    app.add_middleware(DocsPolicy)
    install_error_handlers(app)
    # Ingestion first: a request is matched against the routes in order, and it is the
    # busiest by far; its POST routes also head the app's own routes (``fast_lanes``).
    app.include_router(feedback.router, responses=_GUARDED)
    app.router.routes[:0] = fast_lanes(feedback.router)
    ingress.install(app, MAX_BODY_BYTES)  # the lanes skip the body-limit wrappers and routing
    app.include_router(health.router)
    for module in (training, evaluation, abtests, registry, rlhf, policies):
        app.include_router(module.router, responses=_GUARDED)
    # Dataset files may be larger than any JSON body: their own limit (and room for framing).
    upload_limit = settings.api_dataset_max_upload_bytes + UPLOAD_FRAMING_BYTES
    app.include_router(datasets.router, responses=_GUARDED, max_body_size=upload_limit)
    _include_dashboard(app)
    return app


def _include_dashboard(app: FastAPI) -> None:
    """The admin dashboard at /ui: its pages, their JSON and its static assets."""
    from tonebridge.api.ui import data, pages

    app.include_router(data.router)
    app.include_router(pages.router)
    app.mount("/ui/static", pages.static_files(), name="ui-static")


def settle_heap() -> None:
    """Freeze what start-up allocated and collect young objects less often; call once,
    before serving. The imports (FastAPI, pydantic, SQLAlchemy, aiokafka) leave a heap of
    some 140,000 objects that every full collection would scan again: tens of ms during
    which no request moves (the worker does the same, ``agents/worker.py``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 50)


def _lifespan(
    services: ApiServices,
    database: Database | None,
    publisher: Publisher | None,
    views: AgentViews | None,
    *,
    owns_store: bool,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if owns_store:
                stack.push_async_callback(services.guard_store.close)
            services.database = database or await _open_database(services.settings, stack)
            services.publisher = publisher or await _open_publisher(services.settings, stack)
            opened = views or await _open_views(services.settings, stack)
            services.feedback_stats, services.ab_tests = opened.feedback_stats, opened.ab_tests
            services.loss_curves = opened.loss_curves
            services.probes["database"] = database_probe(services.database)
            services.probes["broker"] = broker_probe(services.settings)
            services.probes["guard_store"] = services.guard_store.ping
            yield

    return lifespan


async def _open_database(settings: Settings, stack: AsyncExitStack) -> Database:
    from tonebridge.storage.db import open_database

    database = open_database(settings)
    stack.push_async_callback(database.dispose)
    return database


async def _open_publisher(settings: Settings, stack: AsyncExitStack) -> Publisher:
    """The producer SDK with a short delivery timeout: ``202`` means the broker has every
    event of the request, and a client waiting on a response is better served by a quick
    ``503`` (and a retry) than by a two-minute wait."""
    from tonebridge.client.config import ProducerConfig
    from tonebridge.client.publisher import ProducerPublisher

    config = ProducerConfig(linger_s=0.0, delivery_timeout_s=10.0, send_timeout_s=10.0)
    return await stack.enter_async_context(ProducerPublisher(settings, config))


@dataclass(frozen=True)
class AgentViews:
    """What the API reads of the stream agents' state."""

    feedback_stats: FeedbackStatsReader
    ab_tests: ABTestReader
    loss_curves: LossCurveReader | None = None


async def _open_views(settings: Settings, stack: AsyncExitStack) -> AgentViews:
    from tonebridge.api.ui.losses import LossCurves

    stats, tests, losses = FeedbackStatsView(settings), ABTestsView(settings), LossCurves(settings)
    for view in (stats, tests, losses):
        await view.start()
        stack.push_async_callback(view.stop)
    return AgentViews(stats, tests, losses)
