"""Dependencies shared by the routers: the app's services and the auth + rate-limit guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tonebridge.api.auth import Principal, Scope
from tonebridge.api.routing import idempotency_key_header, identified
from tonebridge.api.schemas.common import Clean
from tonebridge.api.services import ApiServices
from tonebridge.api.sessions import COOKIE, CSRF_HEADER, SAFE_METHODS

Responses = dict[int | str, dict[str, Any]]  # an OpenAPI responses table

bearer = HTTPBearer(
    auto_error=False,
    description="An API key from API_ADMIN_KEYS (every endpoint) or API_INGEST_KEYS "
    "(feedback and outcomes only).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def get_services(request: Request) -> ApiServices:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop (and
    # GIL hand-offs with the event loop) on every request.
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


def requires(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates, checks ``scope`` and counts the request."""

    async def guard(request: Request, services: Services, credentials: Credentials) -> Principal:
        if credentials is None and COOKIE in request.cookies:
            return await admit(request, services, session_principal(request, services), scope)
        token = credentials.credentials if credentials else None
        return await authorize(request, services, token, scope)

    return guard


def session_principal(request: Request, services: ApiServices) -> Principal:
    """The dashboard's session cookie as an admin; a state change also needs its CSRF token."""
    session = services.sessions.verify(request.cookies.get(COOKIE))
    if session is None:
        msg = "the session has expired or is invalid: log in again at /ui/login"
        raise HTTPException(401, msg)
    if request.method not in SAFE_METHODS and not services.sessions.csrf_ok(
        session, request.headers.get(CSRF_HEADER)
    ):
        raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header for this session")
    return session.principal


async def ingest_services(request: Request) -> ApiServices:
    """The services, once the request is authorized for ``ingest`` and within its rate limit.

    The ingest routes' one dependency: FastAPI's work per dependency is most of the cost of
    a small request, so this one reads the bearer token itself (the routes declare the
    scheme with :data:`INGEST_SECURITY`) and takes the services from the app."""
    services: ApiServices = request.app.state.services
    await admit(request, services, identified(request, services), Scope.INGEST)
    return services


async def authorize(
    request: Request, services: ApiServices, token: str | None, scope: Scope
) -> Principal:
    """401 without a known key, 403 without ``scope``, 429 over the rate limit."""
    return await admit(request, services, services.authenticator.identify(token), scope)


async def admit(
    request: Request, services: ApiServices, principal: Principal | None, scope: Scope
) -> Principal:
    """``principal`` (None: nobody known) if it has ``scope`` and is within its rate limit."""
    if principal is None:
        msg = "missing or unknown API key (send Authorization: Bearer <key>)"
        raise HTTPException(401, msg, headers={"WWW-Authenticate": "Bearer"})
    if not principal.allows(scope):
        raise HTTPException(403, f"this API key lacks the {scope.value!r} scope")
    await enforce_rate_limit(request, services, principal)
    return principal


async def enforce_rate_limit(request: Request, services: ApiServices, who: Principal) -> None:
    bucket = who.key_id
    if not services.authenticator.enabled and request.client is not None:
        bucket = f"{who.key_id}:{request.client.host}"
    decision = await services.rate_limiter.hit(bucket)
    if not decision.allowed:
        msg = f"rate limit of {decision.limit} requests per minute exceeded"
        raise HTTPException(429, msg, headers={"Retry-After": str(decision.retry_after_s)})


Admin = Annotated[Principal, Depends(requires(Scope.ADMIN))]
Ingesting = Annotated[ApiServices, Depends(ingest_services)]
# What the ``bearer`` dependency would add to an operation's OpenAPI (``openapi_extra``).
INGEST_SECURITY: dict[str, Any] = {"security": [{bearer.scheme_name: []}]}


IdempotencyKey = Annotated[str | None, Depends(idempotency_key_header)]
_ID = {"min_length": 1, "max_length": 200}
# Clean: a NUL would reach the database, which PostgreSQL refuses (SQLite takes it).
JobId = Annotated[str, Path(description="The job id (= its command id).", **_ID), Clean]
ModelId = Annotated[str, Path(description="A registered model version's id.", **_ID), Clean]
TestId = Annotated[str, Path(description="The A/B test id.", **_ID), Clean]

# Pages of a list, newest first: ``offset`` items skipped, at most ``limit`` returned.
MAX_PAGE = 500
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")]
PageOffset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")]
Filter = Annotated[
    str | None, Query(min_length=1, max_length=255, description="Exact match."), Clean
]
ModelFilter = Annotated[str | None, Query(max_length=200), Clean]  # a model id, name or type
# The agents' views answer from memory; ``fresh`` first reads what the agents wrote last.
Fresh = Annotated[
    bool, Query(description="Wait until the agents' latest writes are read (<= 2 s).")
]
