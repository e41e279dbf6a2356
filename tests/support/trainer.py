"""Helpers for trainer tests: a harness over the real broker, database and MLflow store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from tonebridge.avro.codec import Decoded, Record
from tonebridge.client import EventProducer
from tonebridge.handlers.methods.synthetic import rewrite_split
from tonebridge.handlers.registry.store import Registry
from tonebridge.handlers.trainer.service import TrainerOptions, TrainerService
from tonebridge.settings import Settings
from tonebridge.storage import (
    Database,
    FeedbackRepository,
    ModelRepository,
    TrainingJobRepository,
)
from tonebridge.storage.records import ModelRecord, TrainingJobRecord
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.models import model_command as build_model_command
from tonebridge.topics.spec import TopicSpec
from tonebridge.topics.training import training_command

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, tzinfo=UTC)
# Small and quick on two CPU cores; the learning rate is high because the model is tiny.
FAST = {
    "max_steps": 12,
    "batch_size": 8,
    "learning_rate": 5e-3,
    "log_every_steps": 2,
    "eval_max_examples": 8,
    "eval_max_new_tokens": 16,
    "bootstrap_samples": 200,
}


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout_s: float = 120.0, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy (a deadline, not a sleep)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@dataclass
class Harness:
    """The pieces a trainer test talks to, all real."""

    settings: Settings
    db: Database
    registry: Registry
    unique: str

    @property
    def jobs(self) -> TrainingJobRepository:
        return TrainingJobRepository(self.db)

    @property
    def models(self) -> ModelRepository:
        return ModelRepository(self.db)

    async def send(self, spec: TopicSpec, record: Record) -> None:
        async with EventProducer(self.settings) as producer:
            await producer.send_and_wait(spec, record)

    async def consumed(self, group: str, spec: TopicSpec) -> int:
        """How many records ``group`` has committed on ``spec``'s topic, all partitions."""
        consumer = AIOKafkaConsumer(
            **client_kwargs(self.settings, "test-offsets"),
            group_id=self.settings.topic_name(group),
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            topic = spec.name(self.settings)
            parts = range(spec.partition_count(self.settings))
            offsets = [await consumer.committed(TopicPartition(topic, p)) for p in parts]
        finally:
            await consumer.stop()
        return sum(offset or 0 for offset in offsets)

    async def job(self, command_id: str, *states: str) -> TrainingJobRecord:
        """The job of ``command_id`` once it is in one of ``states``."""

        async def probe() -> TrainingJobRecord | None:
            found = await self.jobs.list(limit=1000)
            mine = [j for j in found if j.command_id == command_id and j.status in states]
            return mine[0] if mine else None

        return await eventually(probe, what=f"job {command_id} in {states}")

    async def events(
        self, spec: TopicSpec, until: Callable[[list[Decoded]], bool], timeout_s: float = 120.0
    ) -> list[Decoded]:
        """Every event on ``spec``'s topic, read from the start until ``until`` holds."""
        consumer = AIOKafkaConsumer(**client_kwargs(self.settings, "test-reader"))
        await consumer.start()
        try:
            topic = spec.name(self.settings)
            parts = [TopicPartition(topic, p) for p in range(spec.partition_count(self.settings))]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            seen: list[Decoded] = []

            async def probe() -> list[Decoded] | None:
                for messages in (await consumer.getmany(timeout_ms=200)).values():
                    for message in messages:
                        seen.extend(spec.decode(message.value))
                return seen if until(seen) else None

            return await eventually(probe, timeout_s, f"events on {topic}")
        finally:
            await consumer.stop()

    async def base_model(self, tiny_model: Path) -> ModelRecord:
        return await self.models.ensure_base(f"tone-{self.unique}", str(tiny_model))

    async def feedback(
        self,
        model_id: str,
        count: int = 48,
        *,
        start: int = 0,
        at: datetime = T0,
        prefix: str = "fb",
    ) -> None:
        """Users corrected echoed inputs into the synthetic task's rewrites: ``count`` events
        from ``at`` on, one a minute, on the examples ``start`` to ``start + count``."""
        examples = rewrite_split(start + count, 0).train[start:]
        events = [
            {
                "event_id": f"{prefix}-{self.unique}-{n}",
                "event_time": at + timedelta(minutes=n),
                "user_id": "user",
                "model_id": model_id,
                "input_text": ex.input_text,
                "output_text": ex.input_text,
                "corrected_text": ex.target_text,
                "transformation_type": ex.transformation_type,
                "rating": 1,
                "feedback_type": "both",
                "metadata": {},
            }
            for n, ex in enumerate(examples)
        ]
        result = await FeedbackRepository(self.db).add_many(events)
        assert result.inserted == count


def command(kind: str, command_id: str | None = None, **fields: Any) -> Record:
    command_id = command_id or f"cmd-{uuid.uuid4().hex[:8]}"
    fields.setdefault("requested_by", "api")
    return training_command(command_id=command_id, kind=kind, **fields)


def model_command(action: str, model_id: str) -> Record:
    command_id = f"mc-{uuid.uuid4().hex[:8]}"
    return build_model_command(
        command_id=command_id, action=action, model_id=model_id, requested_by="test"
    )


@dataclass
class RunningTrainer:
    service: TrainerService
    stopping: asyncio.Event
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def started_trainer(
    harness: Harness, worker_id: str | None = None
) -> AsyncIterator[RunningTrainer]:
    """A trainer service (worker ``w-<unique>`` by default) running in this event loop."""
    options = TrainerOptions(worker_id=worker_id or f"w-{harness.unique}", poll_s=0.2)
    service = TrainerService(harness.settings, options)
    stopping = asyncio.Event()
    task = asyncio.create_task(service.run(stopping))
    ready = asyncio.create_task(service.ready.wait())
    await asyncio.wait([task, ready], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    assert service.ready.is_set(), "trainer did not start"
    try:
        yield RunningTrainer(service, stopping, task)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 120)
        await service.close()


def trainer_process(harness: Harness, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``tonebridge trainer`` as a process of its own on the harness's settings."""
    settings = harness.settings
    env = {
        **os.environ,
        "DATA_DIR": str(settings.data_dir),
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "KAFKA_TOPIC_PARTITIONS": str(settings.kafka_topic_partitions),
        "KAFKA_SESSION_TIMEOUT_S": str(settings.kafka_session_timeout_s),
        "DATABASE_URL": settings.sqlalchemy_url,
        "MLFLOW_TRACKING_URI": "",
    }
    command = [sys.executable, "-m", "tonebridge.cli", "trainer", "--worker-id",
               f"w-{harness.unique}", *args]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
