"""Liveness, readiness and Prometheus metrics; unauthenticated, outside rate limits.

Readiness says only ``ok`` or ``failing`` per check unless an admin key asks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Literal

from fastapi import APIRouter, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from tonebridge.api.auth import Scope
from tonebridge.api.deps import Credentials, Services
from tonebridge.api.services import ApiServices

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
PROBE_TIMEOUT_S = 3.0


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Literal["ok", "failing"]]
    details: dict[str, str] | None = Field(
        default=None, description="Why each failing check fails; only for admin keys."
    )


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Liveness:
    return Liveness()


@router.get(
    "/readyz",
    summary="Readiness: the broker and the database answer",
    responses={503: {"model": Readiness, "description": "A dependency does not answer."}},
)
async def readyz(services: Services, credentials: Credentials, response: Response) -> Readiness:
    """Each check is ``ok`` or ``failing``; why it fails (which names hosts, ports and users)
    is logged, and shown only to an admin key."""
    names = list(services.probes)
    failures = await asyncio.gather(*(_probe(services.probes[name]()) for name in names))
    details = {name: failure for name, failure in zip(names, failures, strict=True) if failure}
    if details:
        log.warning("not ready: %s", details)
    response.status_code = 503 if details else 200
    return Readiness(
        status="not_ready" if details else "ready",
        checks={name: "failing" if name in details else "ok" for name in names},
        details=details if _is_admin(services, credentials) else None,
    )


def _is_admin(services: ApiServices, credentials: HTTPAuthorizationCredentials | None) -> bool:
    principal = services.authenticator.identify(credentials.credentials if credentials else None)
    return principal is not None and principal.allows(Scope.ADMIN)


async def _probe(check: Awaitable[None]) -> str | None:
    """None when the check passed, else why it failed."""
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT_S)
    except TimeoutError:
        return f"timed out after {PROBE_TIMEOUT_S:.0f}s"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; say which
        return _first_cause(exc)
    return None


def _first_cause(exc: BaseException) -> str:
    """The error and the driver's error under it (a StoreError wraps the real reason)."""
    cause = exc.__cause__
    text = f"{type(exc).__name__}: {exc}"
    return f"{text} (from {type(cause).__name__}: {cause})" if cause else text


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(services: Services) -> Response:
    return Response(services.metrics.render(), media_type=services.metrics.content_type)
