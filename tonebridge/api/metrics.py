"""Prometheus metrics of the API: requests, latency, events accepted.

Each app gets its own registry so several apps in one process (tests, an embedding
service) do not collide on the global default registry.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# A client may send any method name; labels take only these, so their number stays bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ApiMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tonebridge_http_requests",
            "HTTP requests handled, by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tonebridge_http_request_duration_seconds",
            "Time to produce the response, by route template and method.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events_accepted = Counter(
            "tonebridge_api_events_accepted",
            "Events and commands the broker acknowledged, by event type.",
            ["event"],
            registry=self.registry,
        )

        # The labelled children, by their labels: ``labels()`` takes a lock and checks its
        # arguments on every call, a good part of what counting a small request costs.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._accepted: dict[str, Counter] = {}

    def accepted(self, event: str, count: int = 1) -> None:
        child = self._accepted.get(event)
        if child is None:
            child = self._accepted[event] = self.events_accepted.labels(event)
        child.inc(count)

    def observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        """Count one request and its time under its labels."""
        children = self._children.get((method, route, status))
        if children is None:
            counter = self.requests.labels(method, route, str(status))
            children = (counter, self.latency.labels(method, route))
            self._children[method, route, status] = children
        children[0].inc()
        children[1].observe(elapsed)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: times every HTTP request and counts it by route template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        # The route template (not the raw path) keeps label cardinality bounded.
        route = scope.get("route")
        template = getattr(route, "path", "<unmatched>")
        method = scope["method"] if scope["method"] in _METHODS else "other"
        self.metrics.observe(method, template, status, elapsed)
