from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.integration.api.helpers import (
    ADMIN,
    INGEST,
    api_settings_for,
    closed_port,
    known_models,
    running_client,
)
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


async def test_metrics_count_requests_and_accepted_events(
    client: httpx.AsyncClient, database: Database
) -> None:
    await known_models(database, "m")
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
        'tonebridge_http_requests_total{method="POST",route="/outcomes",status="202"} 1.0' in text
    )
    assert (
        'tonebridge_http_request_duration_seconds_count{method="GET",route="/models"} 1.0' in text
    )


async def test_made_up_methods_share_one_metrics_label(client: httpx.AsyncClient) -> None:
    for n in range(5):
        await client.request(f"BREW{n}", "/models", headers=ADMIN)
    text = (await client.get("/metrics")).text
    assert "BREW" not in text
    assert 'tonebridge_http_requests_total{method="other",route="/models",status="405"} 5.0' in text


SECRET_USER = "tb_user_never_shown"


@pytest.fixture
def unreachable(postgresql_url: str) -> dict[str, str]:
    """PostgreSQL URLs that cannot be used: nothing listens on the port, no such user, no such
    database."""
    parsed = make_url(postgresql_url)
    refused = parsed.set(port=closed_port(), username=SECRET_USER)
    return {
        "closed port": refused.render_as_string(hide_password=False),
        "unknown user": parsed.set(username=SECRET_USER).render_as_string(hide_password=False),
        "no such database": parsed.set(database=f"missing_{uuid.uuid4().hex[:8]}").render_as_string(
            hide_password=False
        ),
    }


async def _get_with(
    settings: Settings, url: str, *requests: tuple[str, dict[str, str]]
) -> list[httpx.Response]:
    database = Database(url)
    try:
        async with running_client(settings, database) as client:
            return [await client.get(path, headers=headers) for path, headers in requests]
    finally:
        await database.dispose()


async def test_readyz_says_only_failing_unless_an_admin_key_asks(
    api_settings: Settings, unreachable: dict[str, str]
) -> None:
    url = unreachable["closed port"]
    port = str(make_url(url).port)
    anonymous, ingest, admin = await _get_with(
        api_settings, url, ("/readyz", {}), ("/readyz", INGEST), ("/readyz", ADMIN)
    )
    for terse in (anonymous, ingest):
        assert terse.status_code == 503
        assert terse.json() == {
            "status": "not_ready",
            "checks": {"database": "failing", "broker": "ok", "guard_store": "ok"},
            "details": None,
        }
    assert admin.status_code == 503
    assert admin.json()["checks"]["database"] == "failing"
    assert port in admin.json()["details"]["database"]  # ConnectionRefusedError, with the port
    assert set(admin.json()["details"]) == {"database"}


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("closed port", "the database is unavailable; retry later"),
        ("no such database", "the database is unavailable; retry later"),
        ("unknown user", "the database could not complete the request; retry later"),
    ],
)
async def test_a_route_reading_an_unreachable_database_answers_503_with_retry_after(
    api_settings: Settings, unreachable: dict[str, str], case: str, detail: str
) -> None:
    url = unreachable[case]
    (response,) = await _get_with(api_settings, url, ("/models", ADMIN))
    assert response.status_code == 503
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json() == {"detail": detail}
    for secret in (SECRET_USER, str(make_url(url).port), make_url(url).database or "?"):
        assert secret not in response.text


async def test_oversized_bodies_are_refused_with_413(client: httpx.AsyncClient) -> None:
    huge = b'{"events": [' + b" " * (9 * 1024 * 1024) + b"]}"
    headers = {**INGEST, "Content-Type": "application/json"}
    response = await client.post("/feedback", content=huge, headers=headers)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/ab-test?name=a%00b", ["query", "name"]),
        ("/datasets?name=a%00b", ["query", "name"]),
        ("/train?model_type=a%00b", ["query", "model_type"]),
        ("/ab-test/a%00b/results", ["path", "test_id"]),
        ("/train/a%00b/status", ["path", "job_id"]),
        ("/models/a%00b", ["path", "model_id"]),
        ("/models?name=a%00b", ["query", "name"]),
        ("/policies?model_id=a%00b", ["query", "model_id"]),
        ("/feedback/stats?model_id=a%00b", ["query", "model_id"]),
    ],
)
async def test_a_nul_in_a_query_or_path_is_a_422_naming_it(
    client: httpx.AsyncClient, path: str, field: list[str]
) -> None:
    """PostgreSQL refuses NUL in text, SQLite takes it: the API refuses it on both."""
    response = await client.get(path, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [field]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost", 200),
        ("localhost:8000", 200),
        ("127.0.0.1:8000", 200),
        ("[::1]:8000", 200),
        ("evil.example", 400),
        ("evil.example:8000", 400),
        ("127.0.0.1.evil.example", 400),
    ],
)
async def test_without_keys_only_requests_addressed_to_loopback_are_answered(
    broker: EmbeddedBroker,
    unique: str,
    tmp_path: Path,
    database: Database,
    host: str,
    status: int,
) -> None:
    open_settings = {"api_admin_keys": [], "api_ingest_keys": [], "api_host": "127.0.0.1"}
    settings = api_settings_for(broker, unique, tmp_path, **open_settings)
    async with running_client(settings, database) as client:
        response = await client.get("/models", headers={"Host": host})
    assert response.status_code == status, response.text
    if status == 400:
        assert "Host header" in response.json()["detail"]


async def test_with_keys_any_host_is_answered(client: httpx.AsyncClient) -> None:
    response = await client.get("/models", headers={**ADMIN, "Host": "api.example.com"})
    assert response.status_code == 200


async def test_an_unreachable_redis_is_a_503_not_a_500(
    api_settings: Settings, database: Database
) -> None:
    """Rate limits and idempotency keys live in Redis when REDIS_HOST is set: a Redis that does
    not answer is a retryable outage, like a database that does not answer."""
    settings = api_settings.model_copy(
        update={"redis_host": "127.0.0.1", "redis_port": closed_port()}
    )
    async with running_client(settings, database) as client:
        response = await client.get("/models", headers=ADMIN)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert str(settings.redis_port) not in response.text
