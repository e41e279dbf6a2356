"""``/metrics`` and ``/healthz`` of the worker and the trainer, on prometheus_client's server.

The server runs in a daemon thread (prometheus_client's threading WSGI server), so a scrape
never waits for the event loop. ``/healthz`` says whether the event loop is still turning: the
process's loop beats a :class:`Heartbeat`, and a beat older than ``stale_s`` answers 503.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.exposition import _SilentHandler as _Quiet

from tonebridge.errors import ConfigError

HEARTBEAT_EVERY_S = 5.0
STALE_AFTER_S = 60.0


def process_registry() -> CollectorRegistry:
    """A registry of its own for one process, with the ``process_*``, ``python_*`` and
    ``python_gc_*`` collectors (the default registry is left alone)."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class Heartbeat:
    """When the event loop last turned; alive while that is recent (thread-safe reads)."""

    def __init__(self, stale_s: float = STALE_AFTER_S) -> None:
        self.stale_s = stale_s
        self._last = time.monotonic()  # start-up counts as a beat: a grace period

    def beat(self) -> None:
        self._last = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._last < self.stale_s

    async def keep_beating(self, every_s: float = HEARTBEAT_EVERY_S) -> None:
        """Beat every ``every_s`` until cancelled (a task on the loop it vouches for)."""
        while True:
            self.beat()
            await asyncio.sleep(every_s)


def routes(registry: CollectorRegistry, alive: Callable[[], bool]) -> WSGIApplication:
    """``/metrics`` (the exposition format), ``/healthz``; 404 for any other path."""
    metrics = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            ok = alive()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [b'{"status":"ok"}' if ok else b'{"status":"stalled"}']
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


def serve(
    registry: CollectorRegistry, host: str, port: int, alive: Callable[[], bool]
) -> WSGIServer:
    """Serve ``registry`` on ``host:port`` in a daemon thread until :func:`stop`.

    Requests are not logged (prometheus_client's silent handler): a scrape every few
    seconds would drown the process's own log.
    """

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    try:
        server = make_server(host, port, routes(registry, alive), Server, handler_class=_Quiet)
    except OSError as exc:  # taken, or not an address of this host: say which setting
        msg = f"cannot serve metrics on METRICS_HOST:METRICS_PORT {host}:{port}: {exc}"
        raise ConfigError(msg) from exc
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def stop(server: WSGIServer) -> None:
    """Stop serving and close the socket (blocks until the serving thread has returned)."""
    server.shutdown()
    server.server_close()
