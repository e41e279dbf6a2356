from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.api.helpers import ADMIN, INGEST, api_settings_for, running_client
from tonebridge.api.app import create_app
from tonebridge.broker import EmbeddedBroker
from tonebridge.errors import ConfigError
from tonebridge.settings import Settings
from tonebridge.storage.db import Database

pytestmark = pytest.mark.integration


def test_no_keys_on_a_public_address_refuses_to_start(
    broker: EmbeddedBroker, unique: str, tmp_path: Path
) -> None:
    open_settings = {"api_admin_keys": [], "api_ingest_keys": [], "api_host": "0.0.0.0"}  # noqa: S104
    settings = api_settings_for(broker, unique, tmp_path, **open_settings)
    with pytest.raises(ConfigError, match="refusing to serve the API on 0.0.0.0 without API keys"):
        create_app(settings)


async def test_health_and_metrics_need_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "guard_store": "ok"}
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200


async def test_metrics_count_requests_and_accepted_events(client: httpx.AsyncClient) -> None:
    await client.get("/models", headers=ADMIN)
    await client.get("/models/nope", headers=ADMIN)
    body = {"request_id": "r", "model_id": "m", "success": True}
    await client.post(
        "/outcomes", json={"events": [body, body | {"request_id": "s"}]}, headers=INGEST
    )
    text = (await client.get("/metrics")).text
    assert 'tonebridge_http_requests_total{method="GET",route="/models",status="200"} 1.0' in text
    assert 'route="/models/{model_id}",status="404"} 1.0' in text
    assert 'tonebridge_api_events_accepted_total{event="InferenceOutcome"} 2.0' in text
    assert (
        'tonebridge_http_request_duration_seconds_count{method="GET",route="/models"} 1.0' in text
    )


async def test_readyz_is_503_when_the_database_is_unreachable(api_settings: Settings) -> None:
    unreachable = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    try:
        async with running_client(api_settings, unreachable) as client:
            response = await client.get("/readyz")
    finally:
        await unreachable.dispose()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"] == "ok"
    assert checks["database"] != "ok"


async def test_oversized_bodies_are_refused_with_413(client: httpx.AsyncClient) -> None:
    huge = b'{"events": [' + b" " * (9 * 1024 * 1024) + b"]}"
    headers = {**INGEST, "Content-Type": "application/json"}
    response = await client.post("/feedback", content=huge, headers=headers)
    assert response.status_code == 413
