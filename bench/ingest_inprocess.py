"""CPU per request of tonebridge's ``POST /feedback`` and the bare endpoint, without HTTP.

Both apps run in this process against the same embedded broker and are called as ASGI apps
(no sockets, no HTTP parsing: what the server adds is the same for both), one event per
request, ``--clients`` requests in flight, in turns: tonebridge with its API key and an
``Idempotency-Key`` on every request (``--no-idempotency-key`` leaves it out), the bare app
(``bench/bare_ingest.py``) as it is. Prints the process's CPU time per request of each, and
their ratio, per round; ``--profile DIR`` writes a cProfile of one more round of each.

This is the steady measure for changes to the request path: on a shared machine the HTTP
bench's rates swing with the scheduler, the CPU time per request much less.

Usage: python bench/ingest_inprocess.py [--requests 3000] [--clients 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bare_ingest import create_app as bare_app  # noqa: E402
from bench.ingest_http import KEY, event, prepare  # noqa: E402
from tonebridge.broker import EmbeddedBroker  # noqa: E402
from tonebridge.settings import load_settings  # noqa: E402

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
Headers = Callable[[bytes], list[tuple[bytes, bytes]]]


def request_scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/feedback", "raw_path": b"/feedback", "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }  # fmt: skip


async def post(app: App, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """One request through the ASGI app; fails unless it is answered 202."""
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(request_scope(headers), receive, send)
    if sent[0]["status"] != 202:
        msg = f"answered {sent[0]['status']}: {sent[1:]}"
        raise SystemExit(msg)


def plain_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]


def tonebridge_headers(idempotency_key: bool) -> Headers:
    def headers(body: bytes) -> list[tuple[bytes, bytes]]:
        extra = [(b"authorization", f"Bearer {KEY}".encode())]
        if idempotency_key:
            extra.append((b"idempotency-key", str(uuid.uuid4()).encode()))
        return plain_headers(body) + extra

    return headers


async def cpu_per_request(app: App, headers: Headers, requests: int, clients: int) -> float:
    """Microseconds of this process's CPU per request (the event bodies made beforehand)."""
    rng = random.Random(requests)
    bodies = [json.dumps(event(rng)).encode() for _ in range(requests)]
    prepared = [(body, headers(body)) for body in bodies]

    async def client(share: list[tuple[bytes, list[tuple[bytes, bytes]]]]) -> None:
        for body, request_headers in share:
            await post(app, body, request_headers)

    started = time.process_time()
    await asyncio.gather(*(client(prepared[i::clients]) for i in range(clients)))
    return 1e6 * (time.process_time() - started) / requests


async def main(args: argparse.Namespace, broker: EmbeddedBroker) -> None:
    prefix = f"inproc{uuid.uuid4().hex[:6]}."
    os.environ.update(
        API_INGEST_KEYS=f'["{KEY}"]', API_ADMIN_KEYS='["bench-admin-key"]',
        API_RATE_LIMIT_PER_MINUTE=str(10**9), REDIS_HOST="",
    )  # fmt: skip
    settings = load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_prefix=prefix,
        data_dir=Path(tempfile.mkdtemp(prefix="tonebridge-inproc-")),
    )
    bare_topic = f"{prefix}bare.feedback"
    await prepare(settings, bare_topic)
    from tonebridge.api.app import create_app, settle_heap

    ours, bare = create_app(settings), bare_app(settings.bootstrap_servers, bare_topic)
    apps: dict[str, tuple[App, Headers]] = {
        "tonebridge": (ours, tonebridge_headers(not args.no_idempotency_key)),
        "bare": (bare, plain_headers),
    }
    async with ours.router.lifespan_context(ours), bare.router.lifespan_context(bare):
        settle_heap()
        await measure(apps, args)


async def measure(apps: dict[str, tuple[App, Headers]], args: argparse.Namespace) -> None:
    for app, headers in apps.values():  # warm up: connections, caches, first batches
        await cpu_per_request(app, headers, 500, args.clients)
    for round_ in range(1, args.rounds + 1):
        cpu = {name: await cpu_per_request(*app, args.requests, args.clients)
               for name, app in apps.items()}  # fmt: skip
        print(f"round {round_}: tonebridge {cpu['tonebridge']:.0f} us/request, bare "
              f"{cpu['bare']:.0f} us/request, ratio {cpu['tonebridge'] / cpu['bare']:.2f}",
              flush=True)  # fmt: skip
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        for name, app in apps.items():
            profile = cProfile.Profile()
            profile.enable()
            await cpu_per_request(*app, args.requests, args.clients)
            profile.disable()
            profile.dump_stats(args.profile / f"{name}.prof")
        print(f"profiles written to {args.profile}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--clients", type=int, default=32, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-idempotency-key", action="store_true")
    parser.add_argument("--profile", type=Path, default=None, help="folder for cProfile files")
    with EmbeddedBroker() as embedded:
        asyncio.run(main(parser.parse_args(), embedded))
