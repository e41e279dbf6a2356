"""The trainer process: training commands, the stop broadcast and model commands.

Three consumers share one event loop; training itself runs in a worker thread.

* commands: group ``tonebridge-trainer``, auto-commit off, one job at a time
  (:class:`~tonebridge.handlers.trainer.loop.CommandLoop`);
* control: no group, every partition from the end (each trainer sees every stop);
* model commands: group ``tonebridge-registry``; deploy/rollback/archive through
  :class:`~tonebridge.handlers.deployment.Deployer`. Unlike training commands these take
  milliseconds, so running them here costs nothing; ``registry=False`` leaves them to
  another process (the HTTP API can call the Deployer directly too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from tonebridge.avro.codec import Record, decode_message
from tonebridge.errors import ConflictError, DecodeError, HandleError, NotFoundError
from tonebridge.handlers.deployment import Deployer
from tonebridge.handlers.registry import Registry
from tonebridge.handlers.trainer.jobs import JobRunner, TrainerContext
from tonebridge.handlers.trainer.loop import CommandLoop, ControlListener
from tonebridge.handlers.trainer.loop import Record as KafkaRecord
from tonebridge.handlers.trainer.publish import KafkaEvents
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
from tonebridge.topics.models import MODEL_COMMAND, MODEL_COMMANDS_TOPIC, MODEL_EVENTS_TOPIC
from tonebridge.topics.training import (
    TRAINING_COMMAND,
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


def decoded(expect: str, apply: Callable[[Record], Awaitable[Any]]) -> Callable[[Any], Any]:
    """A record handler: decode, apply; undecodable and unappliable commands are skipped."""

    async def handle(message: KafkaRecord) -> None:
        try:
            for event in decode_message(message.value, expect):
                await apply(event.record)
        except DecodeError as exc:
            log.error("skipped %s@%d: %s", message.topic, message.offset, exc)

    return handle


class TrainerService:
    def __init__(
        self, settings: Settings, options: TrainerOptions, database: Database | None = None
    ) -> None:
        self.settings = settings
        self.options = options
        self.database = database or Database.from_settings(settings)
        self.registry = Registry.from_settings(settings)
        self.events = KafkaEvents(settings)
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
            orphans = await self.runner.recover()
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
            if self.options.registry:
                loops.append(await self._model_commands(consumers))
            yield loops
        finally:
            for consumer in consumers:
                await consumer.stop()
            await self.events.stop()

    async def _commands(self, consumers: list[AIOKafkaConsumer]) -> Loop:
        consumer = group_consumer(self.settings, TRAINER_GROUP, f"trainer-{self.options.worker_id}")
        consumers.append(consumer)
        await consumer.start()
        loop = CommandLoop(consumer, decoded(TRAINING_COMMAND, self.runner.on_command))
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
        stop = decoded(TRAINING_COMMAND, lambda command: self.runner.stop(command.get("job_id")))

        async def run(stopping: asyncio.Event) -> None:
            await listener.run(stopping, stop)

        return run

    async def _model_commands(self, consumers: list[AIOKafkaConsumer]) -> Loop:
        consumer = group_consumer(
            self.settings, REGISTRY_GROUP, f"registry-{self.options.worker_id}"
        )
        consumers.append(consumer)
        await consumer.start()
        loop = CommandLoop(consumer, decoded(MODEL_COMMAND, self._apply_model_command))
        loop.poll_s = self.options.poll_s
        loop.subscribe(MODEL_COMMANDS_TOPIC.name(self.settings))
        run: Loop = loop.run
        return run

    async def _apply_model_command(self, command: Record) -> None:
        try:
            change = await self.deployer.apply(command)
        except (ConflictError, NotFoundError, HandleError) as exc:
            log.error("model command %s refused: %s", command.get("command_id"), exc)
            return
        log.info("model %s %s", change.model.id, change.change)

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
        await service.run(stopping)
    finally:
        await service.close()
