"""Stream throughput and latency of the tonebridge worker against the embedded broker.

Prints, from one run on the same data:

1. raw: an aiokafka consumer decoding every event with fastavro (the ceiling), and the same
   consumer decoding with the worker's own batch reader (cavro, event times as epoch ms: the
   ceiling for the worker's reads, a stricter one);
2. worker: ``tonebridge worker --no-sink`` (feedback statistics + A/B tests, tables and
   changelogs) consuming the same backlog, in one process;
3. latency at a steady 5,000 events/s: from an outcome (or feedback event) being produced to
   the A/B verdict (or training command) it causes;
4. worker with the database sink in the same process (SQLite), for the cost of co-location.

``--retries F`` sends a fraction F of the backlog's events a second time (same event_id, a
later message, as a client's retry); the worker must count each event once.

Usage: python bench/stream_throughput.py [--feedback 600000] [--outcomes 400000] [--retries 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.worker_progress import Progress, decided_tests, decisions  # noqa: E402
from tonebridge.avro.codec import decode_many, split_message  # noqa: E402
from tonebridge.broker import EmbeddedBroker, free_port  # noqa: E402
from tonebridge.client.packing import pack  # noqa: E402
from tonebridge.settings import Settings, load_settings  # noqa: E402
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC  # noqa: E402
from tonebridge.topics.admin import create_topics  # noqa: E402
from tonebridge.topics.deadletter import DEADLETTER_TOPIC  # noqa: E402
from tonebridge.topics.feedback import FEEDBACK_TOPIC, feedback_event  # noqa: E402
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC, inference_outcome  # noqa: E402
from tonebridge.topics.spec import TopicSpec, event_header, read_merged  # noqa: E402
from tonebridge.topics.tables import (  # noqa: E402
    ABTEST_TABLE,
    FEEDBACK_TABLE,
    changelog_topic,
    is_reserved,  # noqa: E402
)
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC  # noqa: E402

PER_MESSAGE = 500  # events per EventBatch, as the producer SDK packs them (--per-message)
# Outcomes per arm before a test's first look: its always-valid test is computed and it may
# decide, as in production (the backlog's tests are A/A, so they rarely do).
MIN_SAMPLES = 100
MODELS = [f"bench-model-{i}" for i in range(16)]
TYPES = ["formal", "casual", "polite"]
LISTENED = (ABTEST_VERDICTS_TOPIC, TRAINING_COMMANDS_TOPIC)  # the decisions a run waits for
WORDS = "could you please send the report when you have a moment thanks a lot".split()
POLICIES = """
policies:
  - name: enough-corrections
    kind: min_corrections
    threshold: 200
    models: ["latency-*", "bench-model-*"]
"""


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def feedback_records(rng: random.Random, n: int, models: list[str]) -> Iterator[dict[str, Any]]:
    for i in range(n):
        output = text(rng, 12)
        corrected = text(rng, 12) if rng.random() < 0.2 else None
        yield feedback_event(
            user_id=f"user-{i % 1000}",
            model_id=models[i % len(models)],
            input_text=text(rng, 10),
            output_text=output,
            corrected_text=corrected,
            transformation_type=TYPES[i % len(TYPES)],
            rating=rng.randint(1, 5),
        )


def create_command(test_id: str, models: tuple[str, str], min_samples: int) -> dict[str, Any]:
    return {
        **event_header(),
        "test_id": test_id,
        "action": "create",
        "name": test_id,
        "arms": [
            {"arm_id": "control", "model_id": models[0], "weight": 1.0},
            {"arm_id": "treatment", "model_id": models[1], "weight": 1.0},
        ],
        "metrics": [
            {"name": "success", "kind": "binary", "higher_is_better": True, "guardrail": False}
        ],
        "alpha": 0.001,
        "min_samples": min_samples,
        "control_arm": "control",
        "reason": None,
    }


def outcome(rng: random.Random, test_id: str, p: tuple[float, float]) -> dict[str, Any]:
    arm = rng.randrange(2)
    return inference_outcome(
        request_id=str(uuid.uuid4()),
        model_id=f"{test_id}-{arm}",
        ab_test_id=test_id,
        arm_id=("control", "treatment")[arm],
        success=rng.random() < p[arm],
        metrics={"latency_ms": rng.uniform(50, 150)},
    )


class Sender:
    """Packs records per partition into EventBatch messages, as the producer SDK does."""

    def __init__(
        self, settings: Settings, per_message: int = PER_MESSAGE, progress: Progress | None = None
    ) -> None:
        self.settings = settings
        self.per_message = per_message
        self.progress = progress  # counts the messages each agent has to apply
        self.messages: dict[TopicSpec, int] = {}
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            enable_idempotence=False,
            linger_ms=2,
            max_batch_size=4 * 1024 * 1024,
            max_request_size=16 * 1024 * 1024,
        )

    async def __aenter__(self) -> Sender:
        await self.producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.producer.stop()

    async def send(self, spec: TopicSpec, records: list[dict[str, Any]]) -> int:
        topic = spec.name(self.settings)
        events = [Packed(topic, m.key, m.value) for m in map(spec.encode, records)]
        counts = {topic: spec.partition_count(self.settings)}
        futures = [
            await self.producer.send(topic, m.value, key=m.key, partition=m.partition)
            for m in pack(events, self.per_message, 16 * 1024 * 1024, counts)
        ]
        await asyncio.gather(*futures)
        self.messages[spec] = self.messages.get(spec, 0) + len(futures)
        if self.progress is not None:
            self.progress.count(spec, len(futures))
        return len(records)


@dataclass(frozen=True)
class Packed:
    topic: str
    key: bytes
    value: bytes


def with_retries(rng: random.Random, records: list[dict[str, Any]], retries: float) -> list[Any]:
    """``records`` and, after them, a fraction ``retries`` of them again (same event ids)."""
    return records + rng.sample(records, round(len(records) * retries))


async def produce_backlog(
    settings: Settings, feedback: int, outcomes: int, per_message: int, retries: float = 0.0
) -> dict[TopicSpec, int]:
    """Produce the backlog; returns the messages sent per topic."""
    rng = random.Random(7)
    tests = [f"bench-aa-{i}" for i in range(16)]
    async with Sender(settings, per_message) as sender:
        await sender.send(
            ABTEST_COMMANDS_TOPIC,
            [create_command(t, (f"{t}-0", f"{t}-1"), MIN_SAMPLES) for t in tests],
        )
        records = with_retries(rng, list(feedback_records(rng, feedback, MODELS)), retries)
        for i in range(0, len(records), 50_000):
            await sender.send(FEEDBACK_TOPIC, records[i : i + 50_000])
        results = [outcome(rng, tests[i % len(tests)], (0.5, 0.5)) for i in range(outcomes)]
        results = with_retries(rng, results, retries)
        for start in range(0, len(results), 50_000):
            await sender.send(INFERENCE_OUTCOMES_TOPIC, results[start : start + 50_000])
    return sender.messages


def partitions(settings: Settings, *specs: TopicSpec) -> list[TopicPartition]:
    n = settings.kafka_topic_partitions
    return [TopicPartition(spec.name(settings), p) for spec in specs for p in range(n)]


async def raw_baseline(
    settings: Settings, expected: int, millis: bool = False
) -> tuple[int, float, float]:
    """Events decoded by a bare consumer over the same two topics: count, seconds, CPU seconds
    (this process's, from the first poll that returned). With ``millis``, decoded by the
    agents' batch reader (``decode_many(millis=True)``, cavro)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    sources = (FEEDBACK_TOPIC, INFERENCE_OUTCOMES_TOPIC)
    tps = partitions(settings, *sources)
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    events, started, cpu = 0, None, 0.0
    try:
        while events < expected:
            polled = await consumer.getmany(timeout_ms=500, max_records=10_000)
            if started is None:
                started, cpu = time.perf_counter(), time.process_time()
            for messages in polled.values():
                for message in messages:
                    events += decoded(message.value, sources, millis)
    finally:
        await consumer.stop()
    end = time.perf_counter()
    return events, end - (started or end), time.process_time() - cpu


def decoded(value: bytes, sources: tuple[TopicSpec, ...], millis: bool) -> int:
    """How many events ``value`` holds, each decoded."""
    read = decode_many(split_message(value), millis=True) if millis else None
    return len(read[1]) if read is not None else len(read_merged(value, sources).items)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_worker(settings: Settings, data: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "WORKER_ID": settings.worker_id,
        "DATA_DIR": str(data),
        "DATABASE_URL": settings.sqlalchemy_url,
        "RETRAIN_POLICIES_FILE": str(settings.retrain_policies_file or ""),
        "METRICS_PORT": str(settings.metrics_port),
        "PYTHONPATH": str(ROOT),
    }
    log = (data / f"{settings.worker_id}.log").open("wb")
    command = [sys.executable, "-m", "tonebridge.cli", "worker", "--loglevel", "warning", *args]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


class Changelogs:
    """Follows the worker's two changelogs: the newest value per key and write times."""

    def __init__(self, settings: Settings, pid: int | None = None) -> None:
        self.settings = settings
        self.values: dict[str, dict[str, Any]] = {FEEDBACK_TABLE: {}, ABTEST_TABLE: {}}
        self.first, self.last = float("inf"), 0.0
        self.pid = pid  # the worker's: its CPU time from the first table write to the last
        self.cpu_first, self.cpu_last = 0.0, 0.0

    def note_cpu(self) -> None:
        if self.pid is not None:
            now = cpu_seconds(self.pid)
            self.cpu_first = self.cpu_first or now
            self.cpu_last = now

    def reached(self, expected: tuple[int, int], feedback_only: bool) -> bool:
        counts = self.counts()
        return counts[0] == expected[0] if feedback_only else counts == expected

    def counts(self) -> tuple[int, int]:
        feedback = sum(
            v["overall"]["all_time"]["count"] for v in self.values[FEEDBACK_TABLE].values()
        )
        outcomes = sum(
            arm["assigned"]
            for v in self.values[ABTEST_TABLE].values()
            for arm in v["stats"]["arms"].values()
        )
        return feedback, outcomes

    async def follow_until(
        self, expected: tuple[int, int], timeout_s: float, feedback_only: bool = False
    ) -> None:
        """Read until the counts reach ``expected`` (what was produced); only the feedback
        count where tests decided (a decided test keeps no arm counts)."""
        topics = {changelog_topic(self.settings, t): t for t in self.values}
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self.settings.bootstrap_servers,
            auto_offset_reset="earliest",
            metadata_max_age_ms=1000,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        await consumer.start()
        deadline = time.monotonic() + timeout_s
        try:
            while not self.reached(expected, feedback_only):
                if time.monotonic() > deadline:
                    msg = f"counts {self.counts()} did not reach {expected} in {timeout_s}s"
                    raise TimeoutError(msg)
                for tp, messages in (await consumer.getmany(timeout_ms=200)).items():
                    for m in messages:
                        if is_reserved(m.key):
                            continue  # a source partition's offset mark, not a value
                        self.values[topics[tp.topic]][m.key.decode()] = json.loads(m.value)
                        self.first = min(self.first, m.timestamp / 1000)
                        self.last = max(self.last, m.timestamp / 1000)
                        self.note_cpu()
        finally:
            await consumer.stop()


async def dead_letters(settings: Settings) -> list[str]:
    """The reasons of every dead letter so far."""
    consumer = AIOKafkaConsumer(
        DEADLETTER_TOPIC.name(settings),
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    reasons: list[str] = []
    try:
        while polled := await consumer.getmany(timeout_ms=1000):
            for messages in polled.values():
                reasons += [DEADLETTER_TOPIC.decode(m.value)[0].record["reason"] for m in messages]
    finally:
        await consumer.stop()
    return reasons


async def measure_worker(
    settings: Settings, expected: tuple[int, int], progress: Progress
) -> dict[str, float]:
    """Events per second from the worker's first applied message to the moment it has applied
    every message produced (its ``/metrics``, polled every 20 ms near both ends), and its CPU
    seconds over the same span (a contention-proof measure of the work done); then checks its
    counts."""
    await progress.first_applied(timeout_s=300)
    span, cpu = await progress.all_applied(timeout_s=900)
    status = await decided_tests(settings)
    logs = Changelogs(settings)
    await logs.follow_until(expected, 120, feedback_only="decided" in status.values())
    events = sum(expected)
    decided = sum(value == "decided" for value in status.values())
    return {"events": events, "seconds": span, "rate": events / span, "cpu": cpu,
            "decided": decided}  # fmt: skip


async def tests_known(settings: Settings, tests: list[str], timeout_s: float) -> None:
    """Until the worker has every test of ``tests`` in its table (as the API would check)."""
    from tonebridge.agents.views import ABTestsView

    view = ABTestsView(settings)
    await view.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not set(tests) <= set(view.tests()):
            if time.monotonic() > deadline:
                msg = "the worker did not learn the latency tests in time"
                raise TimeoutError(msg)
            await asyncio.sleep(0.05)
    finally:
        await view.stop()


class Latency:
    """Waits from an event to the verdict or training command it caused, in milliseconds."""

    def __init__(self) -> None:
        self.waits: dict[str, list[float]] = {"verdict": [], "training": []}
        # the part of each wait before the worker sent the result (its message's timestamp)
        self.in_worker: dict[str, list[float]] = {"verdict": [], "training": []}
        self.decided: asyncio.Queue[str] = asyncio.Queue()
        self.started = time.perf_counter()
        self.when: dict[str, list[float]] = {"verdict": [], "training": []}  # s into the run
        self.verdicts: set[str] = set()  # the tests whose verdict arrived
        self.since = datetime.now(UTC)

    async def listen(self, settings: Settings) -> None:
        consumer = AIOKafkaConsumer(
            ABTEST_VERDICTS_TOPIC.name(settings),
            TRAINING_COMMANDS_TOPIC.name(settings),
            bootstrap_servers=settings.bootstrap_servers,
            auto_offset_reset="latest",
            metadata_max_age_ms=1000,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        )
        await consumer.start()
        try:
            async for message in consumer:
                now = datetime.now(UTC)
                sent = datetime.fromtimestamp(message.timestamp / 1000, tz=UTC)
                for event in read_merged(message.value, LISTENED).items:
                    kind = "verdict" if event.name == "ABTestVerdict" else "training"
                    caused = event.record["event_time"]
                    if caused < self.since:
                        continue  # caused by the backlog (its policies), not by this run
                    self.waits[kind].append((now - caused).total_seconds() * 1000)
                    self.in_worker[kind].append((sent - caused).total_seconds() * 1000)
                    self.when[kind].append(time.perf_counter() - self.started)
                    if kind == "verdict":
                        self.decided.put_nowait(event.record["test_id"])
                        self.verdicts.add(event.record["test_id"])
        finally:
            await consumer.stop()


async def latency(
    settings: Settings, seconds: float, rate: int, progress: Progress
) -> tuple[Latency, tuple[int, int]]:
    """Produce at ``rate`` events/s; time from an event to the verdict/command it causes.

    Half the events are feedback on 10 models (a policy retrains after every 200
    corrections), half are outcomes of 20 running A/B tests whose treatment converts twice
    as often; a decided test is replaced by a new one, as an operator would. Returns the
    waits and how many (feedback, outcomes) events were produced.
    """
    rng = random.Random(11)
    models = [f"latency-model-{i}" for i in range(10)]
    tests = [f"latency-test-{i}" for i in range(20)]
    created = len(tests)
    measured = Latency()
    listener = asyncio.create_task(measured.listen(settings))
    produced = [0, 0]
    async with Sender(settings, progress=progress) as sender:
        creates = [create_command(t, (f"{t}-0", f"{t}-1"), MIN_SAMPLES) for t in tests]
        await sender.send(ABTEST_COMMANDS_TOPIC, creates)
        await tests_known(settings, tests, 30)  # the API creates a test before routing to it
        tick, per_tick = 0.01, rate // 100
        start = time.perf_counter()
        for n in range(int(seconds / tick)):
            while not measured.decided.empty():
                decided = measured.decided.get_nowait()
                if decided not in tests:
                    continue  # a repeated verdict
                tests.remove(decided)
                tests.append(f"latency-test-{created}")
                created += 1
                await sender.send(ABTEST_COMMANDS_TOPIC, [create_command(tests[-1], (
                    f"{tests[-1]}-0", f"{tests[-1]}-1"), MIN_SAMPLES)])  # fmt: skip
            half = per_tick // 2
            batch = [outcome(rng, rng.choice(tests), (0.3, 0.6)) for _ in range(half)]
            produced[1] += await sender.send(INFERENCE_OUTCOMES_TOPIC, batch)
            feedback = list(feedback_records(rng, per_tick - half, models))
            produced[0] += await sender.send(FEEDBACK_TOPIC, feedback)
            pause = start + (n + 1) * tick - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
    await progress.all_applied(timeout_s=120)
    await every_verdict(settings, measured, timeout_s=30)
    listener.cancel()
    return measured, (produced[0], produced[1])


async def every_verdict(settings: Settings, measured: Latency, timeout_s: float) -> None:
    """Wait until the verdict of every latency test the worker decided has arrived."""
    status = await decided_tests(settings)
    decided = {t for t, s in status.items() if s == "decided" and t.startswith("latency-test-")}
    deadline = time.monotonic() + timeout_s
    while missing := decided - measured.verdicts:
        if time.monotonic() > deadline:
            msg = f"{len(missing)} of {len(decided)} decided tests sent no verdict: {missing}"
            raise TimeoutError(msg)
        await asyncio.sleep(0.05)  # the listener fills measured.verdicts
    print(f"latency tests decided: {len(decided)}, every verdict arrived")


TREND_S = 10


def trend(when: list[float], values: list[float]) -> str:
    """The median wait in each ``TREND_S`` seconds of the latency run, in milliseconds."""
    buckets: dict[int, list[float]] = {}
    for at, value in zip(when, values, strict=True):
        buckets.setdefault(int(at // TREND_S), []).append(value)
    return " ".join(f"{statistics.median(buckets.get(b, [float('nan')])):.0f}"
                    for b in range(max(buckets, default=-1) + 1))  # fmt: skip


# The targets for this bench: the worker's rate against the raw fastavro loop, and the
# 99th percentile of each wait in the latency phase.
RATIO_TARGET, P99_TARGET_MS = 0.8, 100.0


def targets(ratio: float, measured: Latency) -> str:
    """One line judging this run against the targets (every one in this same run)."""
    checks = [(f"throughput {ratio:.3f}x >= {RATIO_TARGET}x", ratio >= RATIO_TARGET)]
    for kind, values in measured.waits.items():
        p99 = p(values, 99)
        checks.append((f"{kind} p99 {p99:.0f} <= {P99_TARGET_MS:.0f} ms", p99 <= P99_TARGET_MS))
    met = all(ok for _, ok in checks)
    return ("targets: " + "; ".join(f"{text} {'yes' if ok else 'NO'}" for text, ok in checks)
            + f" -> {'all met in this run' if met else 'not all met'}")  # fmt: skip


def p(values: list[float], q: int) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def prepare_database(settings: Settings) -> None:
    from tonebridge.storage.db import Database
    from tonebridge.storage.models import ModelRepository

    db = Database(settings.sqlalchemy_url)
    repo = ModelRepository(db)
    for model in MODELS + [f"latency-model-{i}" for i in range(10)]:
        await repo.ensure_base(model, "t5-small", model_id=model)
    await db.dispose()


async def db_rows(settings: Settings) -> int:
    from sqlalchemy import text as sql

    from tonebridge.storage.db import Database

    db = Database(settings.sqlalchemy_url)
    async with db.read() as session:
        count = int(await session.scalar(sql("SELECT count(*) FROM feedback")) or 0)
    await db.dispose()
    return count


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()


async def main(args: argparse.Namespace, broker: EmbeddedBroker) -> None:
    from tonebridge.storage.migrate import upgrade_async

    data = Path(tempfile.mkdtemp(prefix="tonebridge-bench-"))
    (data / "policies.yaml").write_text(POLICIES)
    base = load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
        data_dir=data,
        retrain_policies_file=data / "policies.yaml",
        kafka_session_timeout_s=6,
        kafka_rebalance_timeout_s=1,
    )
    await upgrade_async(base.sqlalchemy_url)
    await prepare_database(base)
    await create_topics(base)
    t = time.perf_counter()
    backlog = await produce_backlog(
        base, args.feedback, args.outcomes, args.per_message, args.retries
    )
    sent = round(args.feedback * args.retries) + round(args.outcomes * args.retries)
    print(f"produced {args.feedback:,} feedback + {args.outcomes:,} outcomes (+ {sent:,} retries) "
          f"in {time.perf_counter() - t:.1f}s ({args.per_message} events per message)")  # fmt: skip

    events, seconds, raw_cpu = await raw_baseline(base, args.feedback + args.outcomes + sent)
    raw_rate = events / seconds
    print(f"raw aiokafka + fastavro decode: {events:,} events in {seconds:.2f}s "
          f"= {raw_rate:,.0f} events/s; CPU {1e6 * raw_cpu / events:.1f} us/event")  # fmt: skip
    events, seconds, own_cpu = await raw_baseline(base, events, millis=True)
    own_rate = events / seconds
    print(f"raw aiokafka + the worker's reader (cavro): {events:,} events in {seconds:.2f}s "
          f"= {own_rate:,.0f} events/s; CPU {1e6 * own_cpu / events:.1f} us/event")  # fmt: skip

    a = base.model_copy(update={"worker_id": "bench-a", "metrics_port": free_port()})
    worker = start_worker(a, data, "--no-sink")
    progress = Progress(a.metrics_port, worker.pid)
    for spec, messages in backlog.items():
        progress.count(spec, messages)
    try:
        result = await measure_worker(a, (args.feedback, args.outcomes), progress)
        cpu_per_event = 1e6 * result["cpu"] / result["events"]
        verdicts, fires = decisions(a.metrics_port)
        print(f"worker (stats + A/B, tables, 1 process): {result['events']:,.0f} events "
              f"in {result['seconds']:.2f}s = {result['rate']:,.0f} events/s, "
              f"ratio to raw {result['rate'] / raw_rate:.3f} (to raw with the worker's reader "
              f"{result['rate'] / own_rate:.2f}); CPU {cpu_per_event:.1f} us/event, "
              f"CPU ratio to raw {raw_cpu / result['cpu']:.2f} ({own_cpu / result['cpu']:.2f}); "
              f"{verdicts} verdicts, "
              f"{fires} training commands from policies")  # fmt: skip
        extra = (0, 0)
        if not args.skip_latency:
            measured, extra = await latency(a, args.latency_seconds, args.rate, progress)
            for kind, values in measured.waits.items():
                sent = measured.in_worker[kind]
                print(f"latency to {kind} at {args.rate:,} events/s: n={len(values)} "
                      f"p50={p(values, 50):.0f} ms p99={p(values, 99):.0f} ms "
                      f"max={max(values, default=float('nan')):.0f} ms "
                      f"(until the worker sent it: p50={p(sent, 50):.0f} "
                      f"p99={p(sent, 99):.0f} ms)")  # fmt: skip
                print(f"  p50 by {TREND_S} s of the run: {trend(measured.when[kind], values)}")
            print(targets(result["rate"] / raw_rate, measured))
    finally:
        stop(worker)
    reasons = await dead_letters(base)
    print(f"dead letters: {len(reasons)}" + (f", e.g. {reasons[:2]}" if reasons else ""))
    if args.skip_sink:
        return

    b = base.model_copy(update={"worker_id": "bench-b", "metrics_port": free_port()})
    expected = (args.feedback + extra[0], args.outcomes + extra[1])
    worker = start_worker(b, data)
    sink = Progress(b.metrics_port, worker.pid)
    sink.sent.update(progress.sent)  # what worker a applied: the backlog and the latency run
    try:
        started = time.perf_counter()
        result = await measure_worker(b, expected, sink)
        print(f"worker with the SQLite sink in the same process: stats {result['events']:,} "
              f"events in {result['seconds']:.2f}s = {result['rate']:,.0f} events/s")  # fmt: skip
        while (rows := await db_rows(b)) < expected[0]:
            if time.perf_counter() - started > 1800:
                msg = f"the sink stored only {rows} of {expected[0]} rows"
                raise TimeoutError(msg)
            await asyncio.sleep(0.5)  # poll the database; nothing to wait on
        elapsed = time.perf_counter() - started
        print(f"  sink stored {rows:,} feedback rows {elapsed:.1f}s after the worker started "
              f"({rows / elapsed:,.0f} rows/s including start-up)")  # fmt: skip
    finally:
        stop(worker)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feedback", type=int, default=600_000)
    parser.add_argument("--outcomes", type=int, default=400_000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=5000, help="events/s in the latency run")
    parser.add_argument("--per-message", type=int, default=PER_MESSAGE)
    parser.add_argument("--retries", type=float, default=0.0, help="fraction sent twice")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-sink", action="store_true", help="skip the run with the sink")
    with EmbeddedBroker() as embedded:
        asyncio.run(main(parser.parse_args(), embedded))
