"""The ingest lanes answer as the app's full stack does, and take only framed requests."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.integration.api.helpers import ADMIN, INGEST, known_models, running_client
from tonebridge.api.app import MAX_BODY_BYTES
from tonebridge.api.ingress import Ingress, framed_within, lane_stack
from tonebridge.settings import Settings
from tonebridge.storage.db import Database

pytestmark = pytest.mark.integration


def test_a_lane_takes_one_stated_length_within_the_limit_and_nothing_chunked() -> None:
    assert framed_within([(b"host", b"x"), (b"content-length", b"10")], 10)
    assert not framed_within([(b"content-length", b"11")], 10)
    assert not framed_within([(b"host", b"x")], 10)  # no length stated
    assert not framed_within([(b"content-length", b"5"), (b"content-length", b"5")], 10)
    assert not framed_within([(b"content-length", b"5"), (b"transfer-encoding", b"chunked")], 10)
    assert not framed_within([(b"content-length", b"-1")], 10)
    assert not framed_within([(b"content-length", b" 5")], 10)


def _chain(app: Any) -> list[type]:
    chain = []
    while hasattr(app, "app"):
        chain.append(type(app))
        app = app.app
    return chain


def test_a_lane_has_the_apps_middleware_less_the_body_limit(database: Database) -> None:
    app = running_client(Settings(), database).app  # the lifespan is not needed to build
    full = _chain(FastAPI.build_middleware_stack(app))
    body_limit = [c for c in full if "body_limit" in c.__module__]  # FastAPI's and Starlette's
    assert "AppBodyLimitMiddleware" in [c.__name__ for c in body_limit]
    assert _chain(lane_stack(app, app.router)) == [c for c in full if c not in body_limit]


@pytest.fixture
async def app(api_settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    await known_models(database, "m")
    running = running_client(api_settings, database)
    async with running:
        yield running.app


class Counted:
    """Counts the requests the full stack serves."""

    def __init__(self, full: ASGIApp) -> None:
        self.full, self.calls = full, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += scope["type"] == "http"
        await self.full(scope, receive, send)


def event(**fields: object) -> dict[str, object]:
    base = {"event_id": str(uuid.uuid4()), "user_id": "u", "model_id": "m", "input_text": "a",
            "output_text": "b", "transformation_type": "formal", "rating": 4}  # fmt: skip
    return base | fields


async def chunked(body: bytes) -> AsyncIterator[bytes]:
    yield body  # a generator: httpx sends it chunked, with no Content-Length


REQUESTS: list[tuple[str, dict[str, object] | bytes, dict[str, str]]] = [
    ("valid", event(), INGEST),
    ("batch", {"events": [event(), event(rating=1)]}, INGEST),
    ("no key", event(), {}),
    ("admin key", event(), ADMIN),
    ("bad rating", event(rating=9), INGEST),
    ("NUL", event(input_text="a\u0000b"), INGEST),
    ("unknown model", event(model_id="nobody"), INGEST),
    ("not JSON", b'{"user_id": ', INGEST),
]


@pytest.mark.parametrize(("what", "body", "headers"), REQUESTS, ids=[r[0] for r in REQUESTS])
async def test_a_lane_answers_as_the_full_stack_does(
    app: FastAPI, what: str, body: dict[str, object] | bytes, headers: dict[str, str]
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        await http.get("/healthz")  # the app builds its stack on its first request
        assert isinstance(app.middleware_stack, Ingress)
        counted = app.middleware_stack.full = Counted(app.middleware_stack.full)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {**headers, "Content-Type": "application/json"}
        lane = await http.post("/feedback", content=raw, headers=sent)
        assert counted.calls == 0, f"{what}: the lane did not take it"
        full = await http.post("/feedback", content=chunked(raw), headers=sent)
        assert counted.calls == 1, f"{what}: the full stack did not take the chunked one"
        metrics = (await http.get("/metrics")).text
    assert (lane.status_code, lane.json().keys()) == (full.status_code, full.json().keys()), what
    if lane.status_code != 202:  # the event ids differ only when sent without one
        assert lane.json() == full.json(), what
    counted_line = f'method="POST",route="/feedback",status="{lane.status_code}"'
    assert f"tonebridge_http_requests_total{{{counted_line}}} 2.0" in metrics, what


async def test_a_stated_length_past_the_limit_is_refused_before_it_is_read(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        headers = {**INGEST, "Content-Length": str(MAX_BODY_BYTES + 1)}
        response = await http.post("/feedback", content=b"{}", headers=headers)
    assert response.status_code == 413


async def test_an_unexpected_error_is_a_500_on_both_ways(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> None:
        msg = "a bug"
        raise RuntimeError(msg)

    monkeypatch.setattr(app.state.services, "publish", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        raw, headers = json.dumps(event()).encode(), {**INGEST, "Content-Type": "application/json"}
        lane = await http.post("/feedback", content=raw, headers=headers)
        full = await http.post("/feedback", content=chunked(raw), headers=headers)
    assert (
        (lane.status_code, lane.text)
        == (full.status_code, full.text)
        == (
            500,
            "Internal Server Error",
        )
    )
