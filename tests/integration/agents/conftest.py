"""The stream worker as a real process against the embedded broker and a real database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.conftest import postgres_database
from tonebridge.agents.views import ABTestsView, FeedbackStatsView
from tonebridge.broker import EmbeddedBroker
from tonebridge.client.config import ProducerConfig
from tonebridge.client.producer import EventProducer
from tonebridge.settings import Settings, load_settings
from tonebridge.storage.db import Database
from tonebridge.storage.migrate import upgrade_async
from tonebridge.topics.admin import create_topics
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.spec import TopicSpec

ROOT = Path(__file__).resolve().parents[3]


class Streams:
    """Settings of one test's topics and database, its worker processes and its readers."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.workers: list[subprocess.Popen[bytes]] = []
        self.feedback = FeedbackStatsView(settings)
        self.tests = ABTestsView(settings)

    def start_worker(self, *args: str, name: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        s = self.settings
        environment = {
            **os.environ,
            "DATA_DIR": str(self.workdir / name),
            "DATABASE_URL": s.sqlalchemy_url,
            "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers,
            "KAFKA_TOPIC_PREFIX": s.kafka_topic_prefix,
            "KAFKA_TOPIC_PARTITIONS": str(s.kafka_topic_partitions),
            "KAFKA_SESSION_TIMEOUT_S": str(s.kafka_session_timeout_s),
            "KAFKA_REBALANCE_TIMEOUT_S": str(s.kafka_rebalance_timeout_s),
            "WORKER_ID": s.worker_id,
            "RETRAIN_POLICIES_FILE": str(s.retrain_policies_file or ""),
            "RETRAIN_ENABLED": str(s.retrain_enabled).lower(),
            **env,
        }
        command = [sys.executable, "-m", "tonebridge.cli", "worker", "--loglevel", "info", *args]
        with (self.workdir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        self.workers.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    async def produce(self, spec: TopicSpec, records: Sequence[Mapping[str, Any]]) -> None:
        """Send through the producer SDK (EventBatch messages of up to 100 events)."""
        config = ProducerConfig(max_batch_events=100)
        async with EventProducer(self.settings, config) as producer:
            for record in records:
                await producer.send(spec, record)

    async def produce_raw(self, spec: TopicSpec, key: bytes, value: bytes) -> None:
        """One message as is: bytes no producer SDK would send."""
        producer = AIOKafkaProducer(
            enable_idempotence=False, **client_kwargs(self.settings, "tonebridge-test-raw")
        )
        await producer.start()
        try:
            await producer.send_and_wait(spec.name(self.settings), value, key=key)
        finally:
            await producer.stop()

    async def ends(self, spec: TopicSpec) -> dict[int, int]:
        """The true end offset of each partition, from fetches."""
        partitions = range(spec.partition_count(self.settings))
        ends = await self.reported_and_true_ends(spec.name(self.settings), partitions)
        return {partition: true for partition, (_, true) in ends.items()}

    async def reported_and_true_ends(
        self, topic: str, partitions: Iterable[int]
    ) -> dict[int, tuple[int, int]]:
        """Each partition's end as ListOffsets reports it, and as a fetch shows it.

        The embedded broker's ListOffsets answer stops at the last record batch's first
        record; a fetch's high watermark is right.
        """
        consumer = AIOKafkaConsumer(
            fetch_max_wait_ms=20, **client_kwargs(self.settings, "tonebridge-test-ends")
        )
        await consumer.start()
        try:
            ends: dict[int, tuple[int, int]] = {}
            for partition in partitions:
                tp = TopicPartition(topic, partition)
                consumer.assign([tp])
                reported = (await consumer.end_offsets([tp]))[tp]
                if reported:
                    consumer.seek(tp, reported - 1)
                    await consumer.getmany(tp, timeout_ms=2000)
                ends[partition] = (reported, consumer.highwater(tp) or reported)
            return ends
        finally:
            await consumer.stop()


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    what: str | Callable[[], str],
    timeout_s: float = 60.0,
) -> None:
    """Wait until ``check()`` holds, polling; fail with ``what`` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what if isinstance(what, str) else what()}")
        await asyncio.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgresql"])
def worker_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database migrated to head for one test's worker, on each dialect: PostgreSQL
    refuses what SQLite takes (NUL in text, over-long varchars)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tonebridge.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
async def streams(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, worker_database_url: str
) -> AsyncIterator[Streams]:
    database_url = worker_database_url
    await upgrade_async(database_url)
    settings = load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_prefix=f"{unique}.",
        kafka_session_timeout_s=3,
        kafka_rebalance_timeout_s=1,
        data_dir=tmp_path,
        database_url=database_url,
        retrain_enabled=False,  # no policy fires unless a test turns them on with its file
    )
    await create_topics(settings)
    harness = Streams(settings, tmp_path)
    await harness.feedback.start()
    await harness.tests.start()
    try:
        yield harness
    finally:
        harness.stop_all()
        await harness.feedback.stop()
        await harness.tests.stop()


@pytest.fixture
async def database(streams: Streams) -> AsyncIterator[Database]:
    db = Database(streams.settings.sqlalchemy_url)
    try:
        yield db
    finally:
        await db.dispose()
