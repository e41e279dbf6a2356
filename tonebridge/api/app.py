"""The FastAPI application: ``create_app(settings)``; ``tonebridge api`` serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tonebridge.api.auth import check_exposure
from tonebridge.api.errors import install_error_handlers
from tonebridge.api.guard_store import GuardStore
from tonebridge.api.metrics import MetricsMiddleware
from tonebridge.api.routes import health
from tonebridge.api.services import ApiServices
from tonebridge.settings import Settings, get_settings

DESCRIPTION = """
Commands (training, evaluation, A/B tests, deployments) go onto their Kafka topics and are
answered with **202 Accepted** and an id to poll; reads come from the database and the stream
agents' state. Send `Authorization: Bearer <key>`: `ingest` keys may post feedback and
outcomes, `admin` keys everything. POSTs accept an `Idempotency-Key` header.
"""


def create_app(
    settings: Settings | None = None, *, guard_store: GuardStore | None = None
) -> FastAPI:
    """Build the app; raises ConfigError when it would serve without keys off loopback."""
    settings = settings or get_settings()
    services = ApiServices.build(settings, guard_store)
    check_exposure(services.authenticator, settings.api_host)
    app = FastAPI(title="tonebridge", version="0.1.0", description=DESCRIPTION, lifespan=_lifespan)
    app.state.services = services
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    install_error_handlers(app)
    app.include_router(health.router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: ApiServices = app.state.services
    services.probes.setdefault("guard_store", services.guard_store.ping)
    try:
        yield
    finally:
        await services.guard_store.close()
