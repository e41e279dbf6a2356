"""The ingest routes' class: a request that FastAPI would accept skips FastAPI's machinery.

``POST /feedback`` and ``POST /outcomes`` carry most of the API's requests, and for a single
event FastAPI's own work per request (reading the body, solving the dependencies, telemetry,
endpoint context) costs more than everything tonebridge does with it. Their operation has
two parameters: the JSON body and the one :func:`~tonebridge.api.deps.ingest_services`
dependency (authentication, scope, rate limit). A request whose body is JSON that validates
is served directly: the body is validated with the route's own body field, the dependency
is awaited and the endpoint called. Anything else (another content type, a body that does
not parse or validate) goes FastAPI's way, so every refusal is FastAPI's, as before.

The order is FastAPI's too: the body is read and validated first (a refusal there counts
nothing), then the dependency (401, 403, 429), then the endpoint.

:class:`FastLane` puts such a route again at the head of the app's routes: an included
router is matched twice per request (to choose it, then within it), more work than the
match itself. The lane is out of the schema; the included route documents the operation.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from tonebridge.api.idempotency import NOT_JSON
from tonebridge.api.routing import Handler, IdempotentRoute, parsed_body

_JSON = "application/json"


class IngestRoute(IdempotentRoute):
    """An :class:`IdempotentRoute` with the direct path above for operations of that shape."""

    def direct_handler(self, plain: APIRoute, fallback: Handler) -> Handler:
        shape = _shape(plain.dependant)
        answers = inspect.signature(plain.endpoint).return_annotation in (Response, "Response")
        direct_call = answers and inspect.iscoroutinefunction(plain.endpoint)
        if shape is None or plain.body_field is None or not direct_call:
            return fallback  # FastAPI must run it in a thread or serialise what it returns
        body_name, (dependency_name, dependency) = shape
        field, endpoint = plain.body_field, plain.endpoint

        async def direct(request: Request) -> Response:
            payload = await _json_payload(request)
            if payload is None or request.app.dependency_overrides:
                return await fallback(request)
            value, errors = field.validate(payload, {}, loc=("body",))
            if errors:
                return await fallback(request)
            services = await dependency(request)
            response: Response = await endpoint(**{body_name: value, dependency_name: services})
            return response

        return direct


def _shape(dependant: Dependant) -> tuple[str, tuple[str, Any]] | None:
    """(body parameter, (dependency parameter, its callable)) if that is all the operation
    takes, and the dependency takes nothing but the request; else None."""
    if len(dependant.body_params) != 1 or len(dependant.dependencies) != 1:
        return None
    sub = dependant.dependencies[0]
    others = (dependant.path_params, dependant.query_params, dependant.header_params)
    if any(others) or dependant.cookie_params or sub.dependencies or sub.name is None:
        return None
    if sub.body_params or sub.query_params or sub.header_params or sub.request_param_name is None:
        return None
    return dependant.body_params[0].name, (sub.name, sub.call)


async def _json_payload(request: Request) -> Any | None:
    """The body parsed, if it is sent as plain ``application/json`` and parses; else None
    (FastAPI's way then refuses it, or takes it as it would any other)."""
    content_type = request.headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() != _JSON:
        return None
    payload = parsed_body(request, await request.body())
    return None if payload is NOT_JSON else payload


class FastLane(BaseRoute):
    """``route`` for the requests it fully matches (path and method), else no match: the
    app's other routes then answer (a wrong method still gets the included route's 405)."""

    include_in_schema = False

    def __init__(self, route: APIRoute) -> None:
        self.route = route
        self.path_format = route.path_format

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = self.route.matches(scope)
        return (match, child_scope) if match is Match.FULL else (Match.NONE, {})

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the included route resolves names

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.route.handle(scope, receive, send)


def fast_lanes(router: APIRouter) -> list[FastLane]:
    """A lane for each of ``router``'s ingest POST routes."""
    return [
        FastLane(route)
        for route in router.routes
        if isinstance(route, IngestRoute) and "POST" in (route.methods or ())
    ]
