"""Liveness, readiness and Prometheus metrics; unauthenticated, outside rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from tonebridge.api.deps import Services

router = APIRouter(tags=["health"])
PROBE_TIMEOUT_S = 3.0


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Liveness:
    return Liveness()


@router.get(
    "/readyz",
    summary="Readiness: the broker and the database answer",
    responses={503: {"model": Readiness, "description": "A dependency does not answer."}},
)
async def readyz(services: Services, response: Response) -> Readiness:
    names = list(services.probes)
    results = await asyncio.gather(*(_probe(services.probes[name]()) for name in names))
    checks = dict(zip(names, results, strict=True))
    ready = all(result == "ok" for result in results)
    response.status_code = 200 if ready else 503
    return Readiness(status="ready" if ready else "not_ready", checks=checks)


async def _probe(check: Awaitable[None]) -> str:
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT_S)
    except TimeoutError:
        return f"timed out after {PROBE_TIMEOUT_S:.0f}s"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; say which
        return f"{type(exc).__name__}: {exc}"
    return "ok"


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(services: Services) -> Response:
    return Response(services.metrics.render(), media_type=services.metrics.content_type)
