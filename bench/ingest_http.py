"""HTTP ingest: tonebridge's ``POST /feedback`` beside a bare FastAPI + aiokafka endpoint.

Both servers run as their own process (uvicorn, one worker) against the same embedded broker,
and the same load generator drives them in turns, cell by cell: single events and batches of
100, at 8, 32 and 128 concurrent clients (each client posts, waits for the answer, posts
again). tonebridge runs as deployed: API keys, the rate limit (set high enough not to refuse)
and an ``Idempotency-Key`` on every request; the bare endpoint (``bench/bare_ingest.py``)
validates with pydantic, encodes with fastavro and ``send_and_wait``s with ``acks=all``.

Per cell: accepted events/s, request latency p50/p99, errors, and the server's CPU time per
accepted event (from ``/proc``: robust to other load on the machine). At the end every event
id a server accepted (202) is looked for on its topic.

``--bare-settle-heap`` gives the bare endpoint the garbage-collector settings ``tonebridge api``
runs with (``settle_heap``: the start-up heap frozen), so that only the requests' own work
differs.

Usage: python bench/ingest_http.py [--seconds 8] [--clients 8 32 128] [--batch 100]
       [--bare-settle-heap]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bare_ingest import decode as bare_decode  # noqa: E402
from tonebridge.broker import EmbeddedBroker  # noqa: E402
from tonebridge.settings import Settings, load_settings  # noqa: E402
from tonebridge.topics.admin import create_topics  # noqa: E402
from tonebridge.topics.feedback import FEEDBACK_TOPIC  # noqa: E402

KEY = "bench-ingest-key"
MODELS = [f"ingest-model-{i}" for i in range(8)]
WORDS = "could you please send the report when you have a moment thanks a lot".split()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def event(rng: random.Random) -> dict[str, Any]:
    words = [rng.choice(WORDS) for _ in range(12)]
    return {
        "event_id": str(uuid.uuid4()),
        "user_id": f"user-{rng.randrange(1000)}",
        "model_id": rng.choice(MODELS),
        "input_text": " ".join(words[:10]),
        "output_text": " ".join(words),
        "corrected_text": " ".join(reversed(words)) if rng.random() < 0.2 else None,
        "transformation_type": rng.choice(["formal", "casual", "polite"]),
        "rating": rng.randint(1, 5),
    }


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    headers: Callable[[], dict[str, str]]
    accepted: set[str] = field(default_factory=set)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    out = log.open("wb")
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def start_tonebridge(settings: Settings, data: Path) -> Server:
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "DATA_DIR": str(data),
        "API_INGEST_KEYS": f'["{KEY}"]',
        "API_ADMIN_KEYS": '["bench-admin-key"]',
        "API_RATE_LIMIT_PER_MINUTE": str(10**9),  # on, but never refusing the bench
        "REDIS_HOST": "",
    }
    command = [sys.executable, "-m", "tonebridge.cli", "api", "--port", str(port)]
    process = spawn([*command, "--log-level", "warning"], env, data / "api.log")

    def headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {KEY}", "Idempotency-Key": str(uuid.uuid4())}

    return Server("tonebridge", process, f"http://127.0.0.1:{port}/feedback", headers)


def start_bare(settings: Settings, topic: str, data: Path, settle_heap: bool) -> Server:
    port = free_port()
    command = [sys.executable, str(ROOT / "bench" / "bare_ingest.py"), "--port", str(port)]
    command += ["--bootstrap", settings.bootstrap_servers, "--topic", topic]
    command += ["--settle-heap"] if settle_heap else []
    process = spawn(command, {}, data / "bare.log")
    return Server("bare", process, f"http://127.0.0.1:{port}/feedback", dict)


async def wait_ready(server: Server, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                msg = f"{server.name} exited with {server.process.returncode}"
                raise RuntimeError(msg)
            try:
                async with http.get(server.url.replace("/feedback", "/docs")) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)  # polling a starting process: nothing to wait on
    msg = f"{server.name} did not answer in {timeout_s}s"
    raise TimeoutError(msg)


@dataclass
class Cell:
    events: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def client(http: aiohttp.ClientSession, server: Server, batch: int, until: float,
                 measure_from: float, cell: Cell, rng: random.Random) -> None:  # fmt: skip
    """Post, wait for the answer, post again, until ``until``; answers count from
    ``measure_from``."""
    while (start := time.perf_counter()) < until:
        events = [event(rng) for _ in range(batch)]
        body = {"events": events} if batch > 1 else events[0]
        try:
            async with http.post(server.url, json=body, headers=server.headers()) as answer:
                payload = await answer.json() if answer.status == 202 else None
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            payload, status = None, type(exc).__name__
        end = time.perf_counter()
        if payload is not None:
            server.accepted.update(payload["event_ids"])
        if not measure_from <= end <= until:
            continue  # counted: the answers that arrive within the measured seconds
        if payload is None:
            cell.error(str(status))
            continue
        cell.events += payload["accepted"]
        cell.latencies.append(end - start)


async def run_cell(server: Server, clients: int, batch: int, seconds: float) -> dict[str, Any]:
    rng = random.Random(clients * 1000 + batch)
    cell = Cell()
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        now = time.perf_counter()
        measure_from, until = now + 1.0, now + 1.0 + seconds  # 1 s to warm up
        cpu_task = asyncio.create_task(cpu_window(server.process.pid, measure_from, until))
        await asyncio.gather(
            *(client(http, server, batch, until, measure_from, cell, rng) for _ in range(clients))
        )
        cpu = await cpu_task
    lat = sorted(cell.latencies)
    return {
        "rate": cell.events / seconds,
        "p50": 1000 * quantile(lat, 50),
        "p99": 1000 * quantile(lat, 99),
        "errors": sum(cell.errors.values()),
        "error_kinds": cell.errors,
        "cpu_us": 1e6 * cpu / max(cell.events, 1),
    }


async def cpu_window(pid: int, start: float, end: float) -> float:
    """The process's CPU seconds between two ``perf_counter`` times (sleeps until each)."""
    await asyncio.sleep(max(start - time.perf_counter(), 0))
    first = cpu_seconds(pid)
    await asyncio.sleep(max(end - time.perf_counter(), 0))
    return cpu_seconds(pid) - first


async def idle_cpu(server: Server, seconds: float = 3.0) -> float:
    """CPU seconds per second the server spends with no request (its background tasks)."""
    now = time.perf_counter()
    return await cpu_window(server.process.pid, now, now + seconds) / seconds


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def topic_ids(settings: Settings, topic: str, read: Callable[[bytes], list[str]]) -> set[str]:
    """Every event id on ``topic`` now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.kafka_topic_partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        ids: set[str] = set()
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    ids.update(read(message.value))
        return ids
    finally:
        await consumer.stop()


def tonebridge_ids(value: bytes) -> list[str]:
    return [str(d.record["event_id"]) for d in FEEDBACK_TOPIC.decode(value)]


async def prepare(settings: Settings, bare_topic: str) -> None:
    from tonebridge.storage.db import Database
    from tonebridge.storage.migrate import upgrade_async
    from tonebridge.storage.models import ModelRepository

    await upgrade_async(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    for model in MODELS:
        await ModelRepository(db).ensure_base(model, "t5-small", model_id=model)
    await db.dispose()
    await create_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(bare_topic, settings.kafka_topic_partitions, 1)])
    finally:
        await admin.close()


def line(name: str, r: dict[str, Any]) -> str:
    kinds = f" {r['error_kinds']}" if r["errors"] else ""
    return (f"  {name:<10} {r['rate']:>8,.0f} ev/s  p50 {r['p50']:>6.1f} ms  "
            f"p99 {r['p99']:>7.1f} ms  errors {r['errors']}{kinds}  "
            f"CPU {r['cpu_us']:>6.1f} us/event")  # fmt: skip


async def main(args: argparse.Namespace, broker: EmbeddedBroker) -> None:
    data = Path(tempfile.mkdtemp(prefix="tonebridge-ingest-"))
    prefix = f"ingest{uuid.uuid4().hex[:6]}."
    settings = load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers, kafka_topic_prefix=prefix, data_dir=data
    )
    bare_topic = f"{prefix}bare.feedback"
    await prepare(settings, bare_topic)
    bare = start_bare(settings, bare_topic, data, args.bare_settle_heap)
    servers = [start_tonebridge(settings, data), bare]
    try:
        await asyncio.gather(*(wait_ready(s) for s in servers))
        await asyncio.sleep(2)  # let start-up work settle before the idle reading
        for server in servers:
            idle = await idle_cpu(server)
            print(f"{server.name}: {1000 * idle:.0f} ms CPU per second idle", flush=True)
        for batch in args.batch:
            for clients in args.clients:
                print(f"{'single events' if batch == 1 else f'batches of {batch}'}, "
                      f"{clients} clients, {args.seconds:.0f} s each:", flush=True)  # fmt: skip
                results = {}
                for server in servers:
                    results[server.name] = await run_cell(server, clients, batch, args.seconds)
                    print(line(server.name, results[server.name]), flush=True)
                ours, bare = results["tonebridge"], results["bare"]
                print(f"  ratio      {ours['rate'] / max(bare['rate'], 1e-9):.2f}x events/s, "
                      f"p99 {ours['p99'] / bare['p99']:.2f}x, "
                      f"CPU {ours['cpu_us'] / bare['cpu_us']:.2f}x", flush=True)  # fmt: skip
        await verify(settings, servers, bare_topic)
    finally:
        for server in servers:
            server.stop()


async def verify(settings: Settings, servers: list[Server], bare_topic: str) -> None:
    """Every id a server acknowledged with 202 must be on its topic."""
    ours, bare = servers
    readers = (
        (ours, FEEDBACK_TOPIC.name(settings), tonebridge_ids),
        (bare, bare_topic, lambda value: [bare_decode(value)["event_id"]]),
    )
    for server, topic, read in readers:
        missing = server.accepted - await topic_ids(settings, topic, read)
        print(f"{server.name}: {len(server.accepted):,} events accepted, "
              f"{len(missing):,} missing from the topic")  # fmt: skip
        if missing:
            msg = f"{server.name} acknowledged events that are not on its topic"
            raise SystemExit(msg)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per cell")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 100], help="events/request")
    parser.add_argument(
        "--bare-settle-heap",
        action="store_true",
        help="give the bare endpoint tonebridge's garbage-collector settings (frozen heap)",
    )
    with EmbeddedBroker() as embedded:
        asyncio.run(main(parser.parse_args(), embedded))
