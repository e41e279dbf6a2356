"""The trainer process: training commands, the stop broadcast and model commands.

Three consumers share one event loop; training itself runs in a worker thread.

* commands: group ``tonebridge-trainer``, auto-commit off, one job at a time
  (:class:`~tonebridge.handlers.trainer.loop.CommandLoop`);
* control: no group, every partition from the end (each trainer sees every stop);
* model commands: group ``tonebridge-registry``; deploy/rollback/archive through
  :class:`~tonebridge.handlers.registry.deployment.Deployer`. Unlike training commands these take
  milliseconds, so running them here costs nothing; ``registry=False`` leaves them to
  another process (the HTTP API can call the Deployer directly too).

No single command stops the trainer (:class:`Guard`): one that cannot be decoded, breaks an
input rule or fails for good becomes a dead letter with the reason (and its job, if any,
ends ``failed``); a transient failure is retried with backoff and jitter, for ever for a
training command, ``trainer_retry_attempts`` times for a model command. A fourth loop keeps
the running job's heartbeat fresh and fails running jobs whose lease has expired, whichever
trainer ran them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from tonebridge.avro.codec import Record
from tonebridge.client.publisher import ProducerPublisher, Publisher
from tonebridge.errors import DecodeError
from tonebridge.handlers.registry.deployment import Deployer
from tonebridge.handlers.registry.store import Registry
from tonebridge.handlers.trainer.intake import check_model_command, dead_letter_of
from tonebridge.handlers.trainer.jobs import JobRunner, TrainerContext
from tonebridge.handlers.trainer.loop import CommandLoop, ControlListener
from tonebridge.handlers.trainer.loop import Record as KafkaRecord
from tonebridge.observability.server import Heartbeat, serve
from tonebridge.observability.server import stop as stop_serving
from tonebridge.retry import Backoff, retrying, trainer_backoff
from tonebridge.settings import Settings
from tonebridge.storage import (
    Database,
    DatasetRepository,
    FeedbackRepository,
    ModelRepository,
    TrainingJobRepository,
)
from tonebridge.topics.admin import create_topics
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC, MODEL_EVENTS_TOPIC
from tonebridge.topics.spec import TopicSpec
from tonebridge.topics.training import (
    TRAINING_COMMANDS_TOPIC,
    TRAINING_CONTROL_TOPIC,
    TRAINING_STATUS_TOPIC,
)

log = logging.getLogger(__name__)

Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]

TRAINER_GROUP = "tonebridge-trainer"
REGISTRY_GROUP = "tonebridge-registry"
TOPICS = (
    TRAINING_COMMANDS_TOPIC,
    TRAINING_CONTROL_TOPIC,
    TRAINING_STATUS_TOPIC,
    MODEL_COMMANDS_TOPIC,
    MODEL_EVENTS_TOPIC,
    DEADLETTER_TOPIC,
)


@dataclass(frozen=True)
class TrainerOptions:
    worker_id: str
    registry: bool = True
    poll_s: float = 0.5
    work_dir: Path | None = None


def group_consumer(settings: Settings, group: str, client_id: str) -> AIOKafkaConsumer:
    """A consumer in ``group`` that commits only when told to."""
    session_ms = int(settings.kafka_session_timeout_s * 1000)
    return AIOKafkaConsumer(
        **client_kwargs(settings, client_id),
        group_id=settings.topic_name(group),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=max(session_ms // 3, 100),
        rebalance_timeout_ms=int(settings.kafka_rebalance_timeout_s * 1000),
    )


Apply = Callable[[Record], Awaitable[Any]]
Rejected = Callable[[Record, BaseException], Awaitable[None]]


@dataclass(frozen=True)
class Guard:
    """A record handler that always returns: applied, dead-lettered, or (no dead letters) logged.

    ``apply`` is retried while it fails transiently and ``backoff`` allows; a permanent
    failure, or a transient one past the bound, dead-letters the record and calls
    ``on_rejected``. Publishing the dead letter is retried without bound: the record's offset
    is committed only once its dead letter is on the topic.
    """

    topic: TopicSpec
    apply: Apply
    backoff: Backoff
    events: Publisher | None = None  # None: log instead of dead-lettering (broadcasts)
    on_rejected: Rejected | None = None

    async def __call__(self, message: KafkaRecord) -> None:
        try:
            records = [event.record for event in self.topic.decode(message.value)]
        except DecodeError as exc:
            await self._reject(message, None, exc)
            return
        for record in records:
            try:
                await self._apply(record)
            except Exception as exc:  # noqa: BLE001 - one record never stops the trainer
                await self._reject(message, record, exc)

    async def _apply(self, record: Record) -> None:
        async def once() -> None:
            await self.apply(record)

        what = f"{'/'.join(self.topic.schemas)} {record.get('command_id')}"
        await retrying(once, what, self.backoff)

    async def _reject(self, message: KafkaRecord, record: Record | None, exc: Exception) -> None:
        where = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        ids = {} if record is None else {"command_id": record.get("command_id")}
        log.error("%s@%d rejected: %s", message.topic, message.offset, exc, extra=where | ids)
        if self.events is not None:
            await self._dead_letter(self.events, dead_letter_of(message, exc))
        if record is not None and self.on_rejected is not None:
            await self.on_rejected(record, exc)

    async def _dead_letter(self, events: Publisher, letter: Record) -> None:
        async def send() -> None:
            await events.publish(DEADLETTER_TOPIC, letter)

        try:
            await retrying(send, "dead letter", replace(self.backoff, attempts=None))
        except Exception:  # noqa: BLE001 - a letter the topic refuses must not stop the trainer
            log.exception(
                "dead letter of %s@%d not sent", letter["source_topic"], letter["source_offset"]
            )


class TrainerService:
    def __init__(
        self, settings: Settings, options: TrainerOptions, database: Database | None = None
    ) -> None:
        self.settings = settings
        self.options = options
        self.database = database or Database.from_settings(settings)
        self.registry = Registry.from_settings(settings)
        self.events = ProducerPublisher(settings)
        self.runner = JobRunner(self._context())
        self.deployer = Deployer(ModelRepository(self.database), self.registry, self.events)
        self.ready = asyncio.Event()

    def _context(self) -> TrainerContext:
        db = self.database
        return TrainerContext(
            settings=self.settings,
            worker_id=self.options.worker_id,
            jobs=TrainingJobRepository(db),
            models=ModelRepository(db),
            datasets=DatasetRepository(db),
            feedback=FeedbackRepository(db),
            registry=self.registry,
            events=self.events,
            work_dir=self.options.work_dir or self.settings.data_dir / "trainer",
        )

    async def run(self, stopping: asyncio.Event) -> None:
        """Serve until ``stopping`` is set; a failure of any consumer stops them all."""
        await create_topics(self.settings, TOPICS)
        async with self._started() as loops:
            forever = trainer_backoff(self.settings, bounded=False)
            orphans = await retrying(self.runner.recover, "recovery of orphaned jobs", forever)
            if orphans:
                log.warning("failed %d orphaned job(s): %s", len(orphans), orphans)
            self.ready.set()
            tasks = [asyncio.create_task(loop(stopping)) for loop in loops]
            await _until_stopped(stopping, tasks, self.runner.stop_current)

    @contextlib.asynccontextmanager
    async def _started(self) -> AsyncIterator[list[Loop]]:
        consumers: list[AIOKafkaConsumer] = []
        await self.events.start()
        try:
            loops = [await self._commands(consumers), await self._control(consumers)]
            loops.append(self._leases)
            if self.options.registry:
                loops.append(await self._model_commands(consumers))
            yield loops
        finally:
            for consumer in consumers:
                await consumer.stop()
            await self.events.close()

    async def _commands(self, consumers: list[AIOKafkaConsumer]) -> Loop:
        consumer = group_consumer(self.settings, TRAINER_GROUP, f"trainer-{self.options.worker_id}")
        consumers.append(consumer)
        await consumer.start()
        guard = Guard(
            TRAINING_COMMANDS_TOPIC,
            self.runner.on_command,
            trainer_backoff(self.settings, bounded=False),
            self.events,
            self.runner.reject,
        )
        loop = CommandLoop(consumer, guard)
        loop.poll_s = self.options.poll_s
        loop.subscribe(TRAINING_COMMANDS_TOPIC.name(self.settings))
        run: Loop = loop.run
        return run

    async def _control(self, consumers: list[AIOKafkaConsumer]) -> Loop:
        consumer = AIOKafkaConsumer(
            **client_kwargs(self.settings, f"trainer-control-{self.options.worker_id}"),
            group_id=None,
            enable_auto_commit=False,
        )
        consumers.append(consumer)
        await consumer.start()
        listener = ControlListener(
            consumer, TRAINING_CONTROL_TOPIC.name(self.settings), self.options.poll_s
        )
        await listener.assign_from_end()
        stop = Guard(
            TRAINING_CONTROL_TOPIC,
            lambda command: self.runner.stop(command.get("job_id")),
            trainer_backoff(self.settings),
        )

        async def run(stopping: asyncio.Event) -> None:
            await listener.run(stopping, stop)

        return run

    async def _model_commands(self, consumers: list[AIOKafkaConsumer]) -> Loop:
        consumer = group_consumer(
            self.settings, REGISTRY_GROUP, f"registry-{self.options.worker_id}"
        )
        consumers.append(consumer)
        await consumer.start()
        guard = Guard(
            MODEL_COMMANDS_TOPIC,
            self._apply_model_command,
            trainer_backoff(self.settings),
            self.events,
        )
        loop = CommandLoop(consumer, guard)
        loop.poll_s = self.options.poll_s
        loop.subscribe(MODEL_COMMANDS_TOPIC.name(self.settings))
        run: Loop = loop.run
        return run

    async def _apply_model_command(self, command: Record) -> None:
        change = await self.deployer.apply(check_model_command(command))
        log.info("model %s %s", change.model.id, change.change)

    async def _leases(self, stopping: asyncio.Event) -> None:
        """Every heartbeat interval: refresh the running job's lease, fail expired ones."""
        while not stopping.is_set():
            await self.runner.keep_leases()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.trainer_heartbeat_s)

    async def close(self) -> None:
        await self.database.dispose()


async def _until_stopped(
    stopping: asyncio.Event, tasks: list[asyncio.Task[None]], on_stop: Callable[[], None]
) -> None:
    """Wait for ``stopping`` or the first failure; then stop the job and every loop."""
    waiter = asyncio.create_task(stopping.wait())
    await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stopping.set()
    on_stop()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    waiter.cancel()
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def run_service(settings: Settings, options: TrainerOptions) -> None:
    """Run a trainer until SIGINT or SIGTERM; the running job ends ``stopped``."""
    import signal

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    service = TrainerService(settings, options)
    try:
        async with _metrics_served(settings, service.runner.ctx.metrics.registry):
            await service.run(stopping)
    finally:
        await service.close()


@contextlib.asynccontextmanager
async def _metrics_served(settings: Settings, registry: CollectorRegistry) -> AsyncIterator[None]:
    """``/metrics`` and ``/healthz`` on ``METRICS_HOST:METRICS_PORT`` while the trainer runs
    (none if the port is 0); a task on this loop beats the health check."""
    if not settings.metrics_port:
        yield
        return
    heartbeat = Heartbeat()
    server = serve(registry, settings.metrics_host, settings.metrics_port, heartbeat.alive)
    beating = asyncio.create_task(heartbeat.keep_beating())
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        await asyncio.to_thread(stop_serving, server)
