"""The app's entry: the ingest posts skip the body-limit wrappers and the routing.

FastAPI's app-wide ``max_body_size`` wraps every request's ``receive`` and ``send`` in a
responder that counts the bytes; then the router matches the path. For the ingest posts
(``POST /feedback`` and ``POST /outcomes``, most of the API's requests, one small event each)
that machinery cost about as much as a quarter of what the request does. :class:`Ingress`
is the app's middleware stack: a request for an ingest lane that states its length (a
``Content-Length`` within the limit, no ``Transfer-Encoding``) goes through the same
middleware less the body limit, straight to its lane; every other request goes through the
full stack, so an oversized or chunked post is refused as before.

The limit still holds for the requests a lane takes: the server frames an HTTP/1.1 body by
its ``Content-Length`` and delivers no more than that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from tonebridge.api.ingest_route import FastLane


class Ingress:
    """``full`` (the app's own stack) for every request but those a lane takes."""

    def __init__(self, app: FastAPI, full: ASGIApp, limit: int) -> None:
        self.full, self.limit = full, limit
        lanes = [route for route in app.router.routes if isinstance(route, FastLane)]
        self.lanes = {lane.path_format: lane_stack(app, _Lane(app, lane)) for lane in lanes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = None
        if scope["type"] == "http" and scope["method"] == "POST":
            lane = self.lanes.get(scope["path"])
        if lane is None or not framed_within(scope["headers"], self.limit):
            await self.full(scope, receive, send)
            return
        await lane(scope, receive, send)


def framed_within(headers: Iterable[tuple[bytes, bytes]], limit: int) -> bool:
    """True if the request states one ``Content-Length`` of at most ``limit`` and is not
    chunked (ASGI header names are lower case)."""
    length: bytes | None = None
    for name, value in headers:
        if name == b"content-length":
            if length is not None:
                return False
            length = value
        elif name == b"transfer-encoding":
            return False
    return length is not None and length.isdigit() and int(length) <= limit


class _Lane:
    """The innermost app of a lane's stack: what the router does for a matching route."""

    def __init__(self, app: FastAPI, lane: FastLane) -> None:
        self.router, self.lane = app.router, lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match, child_scope = self.lane.matches(scope)
        if match is not Match.FULL:  # a path the lane's pattern refuses: the router decides
            await self.router(scope, receive, send)
            return
        scope.setdefault("router", self.router)
        scope.update(child_scope)
        await self.lane.route.app(scope, receive, send)  # a POST to the lane's POST route


def lane_stack(app: FastAPI, inner: ASGIApp) -> ASGIApp:
    """``app``'s middleware around ``inner``, as FastAPI builds its own stack around the
    router (``FastAPI.build_middleware_stack``) less the app-wide body limit."""
    error_handler: Any = None
    handlers: dict[Any, Any] = {}
    for key, value in app.exception_handlers.items():
        if key in (500, Exception):
            error_handler = value
        else:
            handlers[key] = value
    middleware = [
        Middleware(ServerErrorMiddleware, handler=error_handler, debug=app.debug),
        Middleware(ExceptionTelemetryMiddleware),
        *app.user_middleware,
        Middleware(ExceptionMiddleware, handlers=handlers, debug=app.debug),
        Middleware(AsyncExitStackMiddleware),
    ]
    stack = inner
    for cls, args, kwargs in reversed(middleware):
        stack = cls(stack, *args, **kwargs)
    return stack


def install(app: FastAPI, limit: int) -> None:
    """Make :class:`Ingress` ``app``'s stack when the app builds it (on its first call, after
    every middleware and handler is added). fastapi-offline makes the app, so no subclass."""
    build = app.build_middleware_stack

    def build_with_lanes() -> ASGIApp:
        return Ingress(app, build(), limit)

    app.build_middleware_stack = build_with_lanes  # type: ignore[method-assign]
