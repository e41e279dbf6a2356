"""IngestRoute's direct path answers as FastAPI's own would; FastLane leaves the rest alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from tests.integration.api.helpers import INGEST
from tonebridge.api.ingest_route import FastLane, IngestRoute, fast_lanes
from tonebridge.api.routes import feedback
from tonebridge.api.routing import IdempotentRoute
from tonebridge.api.services import ApiServices
from tonebridge.settings import load_settings

pytestmark = pytest.mark.integration
KEY = "direct-path-key"


class Item(BaseModel):
    n: int = Field(ge=1)
    tags: list[str] = Field(default_factory=list, max_length=2)


async def guard(request: Request) -> str:
    """Like ``ingest_services``: takes the request only; refuses without the key."""
    if request.headers.get("Authorization") != f"Bearer {KEY}":
        raise HTTPException(401, "missing or unknown API key")
    request.app.state.hits += 1
    return "caller"


async def endpoint(body: Item, who: Annotated[str, Depends(guard)]) -> Response:
    return JSONResponse({"n": body.n, "tags": body.tags, "who": who}, 202)


async def with_query(body: Item, who: Annotated[str, Depends(guard)], q: str = "") -> Response:
    return JSONResponse({"n": body.n, "q": q}, 202)


async def returns_a_model(body: Item, who: Annotated[str, Depends(guard)]) -> Item:
    return body  # FastAPI validates and serialises it: not for the direct path


def synchronous(body: Item, who: Annotated[str, Depends(guard)]) -> Response:
    return JSONResponse({"n": body.n}, 202)  # FastAPI runs it in its thread pool


def twin_apps() -> FastAPI:
    """``/direct`` (IngestRoute) and ``/fastapi`` (IdempotentRoute): the same operation."""
    app = FastAPI()
    app.state.services = ApiServices.build(load_settings(api_ingest_keys=[KEY]))
    app.state.hits = 0
    direct = APIRouter(route_class=IngestRoute)
    direct.post("/direct")(endpoint)
    plain = APIRouter(route_class=IdempotentRoute)
    plain.post("/fastapi")(endpoint)
    app.include_router(direct)
    app.include_router(plain)
    return app


@pytest.fixture
def app() -> FastAPI:
    return twin_apps()


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


JSON = {"Content-Type": "application/json"}
AUTH = {"Authorization": f"Bearer {KEY}"}
REQUESTS: list[tuple[str, bytes, dict[str, str]]] = [
    ("valid", b'{"n": 2, "tags": ["a"]}', AUTH | JSON),
    ("valid, charset", b'{"n": 2}', AUTH | {"Content-Type": "application/json; charset=utf-8"}),
    ("valid, no key", b'{"n": 2}', JSON),
    ("invalid, no key", b'{"n": 0}', JSON),
    ("out of range", b'{"n": 0}', AUTH | JSON),
    ("too many tags", b'{"n": 1, "tags": ["a", "b", "c"]}', AUTH | JSON),
    ("missing field", b"{}", AUTH | JSON),
    ("not an object", b"[1, 2]", AUTH | JSON),
    ("null", b"null", AUTH | JSON),
    ("not JSON", b'{"n": ', AUTH | JSON),
    ("not UTF-8", b'{"n": "\xff"}', AUTH | JSON),
    ("empty", b"", AUTH | JSON),
    ("text/plain", b'{"n": 2}', AUTH | {"Content-Type": "text/plain"}),
    ("+json", b'{"n": 2}', AUTH | {"Content-Type": "application/merge-patch+json"}),
    ("no content type", b'{"n": 2}', AUTH),
    # JSON that Python's parser takes and orjson (the direct path's) does not: FastAPI's way
    ("NaN", b'{"n": 2, "w": NaN}', AUTH | JSON),
    ("UTF-16", '{"n": 2}'.encode("utf-16"), AUTH | JSON),
    ("integer past 64 bits", b'{"n": 123456789012345678901234567890}', AUTH | JSON),
    ("lone surrogate", b'{"n": 2, "w": "\\ud800"}', AUTH | JSON),
    ("duplicate key", b'{"n": 0, "n": 2}', AUTH | JSON),
]


@pytest.mark.parametrize(("what", "body", "headers"), REQUESTS, ids=[r[0] for r in REQUESTS])
async def test_direct_path_answers_as_fastapi_does(
    app: FastAPI, http: httpx.AsyncClient, what: str, body: bytes, headers: dict[str, str]
) -> None:
    direct = await http.post("/direct", content=body, headers=headers)
    hits_direct = app.state.hits
    plain = await http.post("/fastapi", content=body, headers=headers)
    hits_plain = app.state.hits - hits_direct
    assert direct.status_code == plain.status_code, what
    assert direct.json() == plain.json(), what
    assert hits_direct == hits_plain, f"{what}: the guard ran {hits_direct} vs {hits_plain}"


async def test_a_valid_request_is_served(http: httpx.AsyncClient) -> None:
    answer = await http.post("/direct", json={"n": 3}, headers=AUTH)
    assert (answer.status_code, answer.json()) == (202, {"n": 3, "tags": [], "who": "caller"})


def twin(route: IngestRoute) -> APIRoute:
    assert route._twin is not None
    return route._twin


async def fallback(request: Request) -> Response:
    return Response(status_code=418)


def test_only_operations_of_the_ingest_shape_get_the_direct_path() -> None:
    ingest = [r for r in feedback.router.routes if isinstance(r, IngestRoute) and r._twin]
    assert sorted(r.path for r in ingest) == ["/feedback", "/outcomes"]
    for route in ingest:
        assert route.direct_handler(twin(route), fallback) is not fallback
    for other_shape in (with_query, returns_a_model, synchronous):
        other = IngestRoute("/q", other_shape, methods=["POST"])
        assert other.direct_handler(twin(other), fallback) is fallback, other_shape.__name__


def test_lanes_are_the_ingest_posts_and_stay_out_of_the_schema() -> None:
    lanes = fast_lanes(feedback.router)
    assert sorted(lane.path_format for lane in lanes) == ["/feedback", "/outcomes"]
    assert all(not lane.include_in_schema for lane in lanes)


def scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def test_a_lane_matches_only_its_path_and_method() -> None:
    (lane,) = [lane for lane in fast_lanes(feedback.router) if lane.path_format == "/feedback"]
    assert isinstance(lane, FastLane)
    assert lane.matches(scope("POST", "/feedback"))[0].name == "FULL"
    assert lane.matches(scope("GET", "/feedback"))[0].name == "NONE"  # not PARTIAL: 405 elsewhere
    assert lane.matches(scope("POST", "/feedback/stats"))[0].name == "NONE"


async def test_the_app_still_refuses_other_methods_and_documents_each_operation_once(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/feedback", headers=INGEST)).status_code == 405
    spec = (await client.get("/openapi.json")).json()
    assert list(spec["paths"]["/feedback"]) == ["post"]
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
