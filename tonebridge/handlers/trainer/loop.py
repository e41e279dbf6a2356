"""Kafka plumbing of the trainer: one command at a time, for as long as it takes.

A training command can run for hours, far past any poll interval. While one runs, every
assigned partition is paused and :meth:`CommandLoop.process` keeps calling ``getmany``:
aiokafka heartbeats in the background, and each ``getmany`` resets the idle timer that
``max_poll_interval_ms`` guards, so the member stays in its group. The command's offset is
committed only after its job has ended (auto-commit is off): a trainer killed mid-job sees
the command again after a restart, and the job repository makes that replay a no-op.

The control topic is read by every trainer (a broadcast): :class:`ControlListener` assigns
itself all its partitions from the end, with no consumer group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

log = logging.getLogger(__name__)

# aiokafka ships no type information: a ConsumerRecord[bytes, bytes] is Any to mypy.
Record: TypeAlias = Any
Handler = Callable[[Record], Awaitable[None]]


class _PauseWhileBusy(ConsumerRebalanceListener):  # type: ignore[misc]
    """A rebalance resets pauses: partitions assigned mid-job are paused again at once."""

    def __init__(self, loop: CommandLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self.loop.busy and assigned:
            self.loop.consumer.pause(*assigned)


class CommandLoop:
    """Hands each command record to ``handle`` and commits it when the handler returns."""

    def __init__(self, consumer: AIOKafkaConsumer, handle: Handler, poll_s: float = 0.5) -> None:
        self.consumer = consumer
        self.handle = handle
        self.poll_s = poll_s
        self.busy = False
        self.listener = _PauseWhileBusy(self)

    def subscribe(self, topic: str) -> None:
        self.consumer.subscribe([topic], listener=self.listener)

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until ``stopping`` is set; a handler's exception ends the loop uncommitted."""
        while not stopping.is_set():
            batch = await self.consumer.getmany(timeout_ms=int(self.poll_s * 1000), max_records=1)
            for partition, records in batch.items():
                for record in records:
                    await self.process(partition, record)

    async def process(self, partition: TopicPartition, record: Record) -> None:
        """Run one command with every partition paused, then commit past it."""
        self.busy = True
        self.consumer.pause(*self.consumer.assignment())
        try:
            await self._while_polling(self.handle(record))
        finally:
            self.busy = False
            self.consumer.resume(*self.consumer.paused())
        await self._commit(partition, record.offset + 1)

    async def _while_polling(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=self.poll_s)
                self._hand_back(await self.consumer.getmany(timeout_ms=0))
        finally:
            if not task.done():
                task.cancel()
        await task

    def _hand_back(self, stray: dict[TopicPartition, list[Record]]) -> None:
        """Records fetched before a pause took hold are re-read later, not run now."""
        for partition, records in stray.items():
            self.consumer.seek(partition, records[0].offset)
            self.consumer.pause(partition)

    async def _commit(self, partition: TopicPartition, offset: int) -> None:
        try:
            await self.consumer.commit({partition: offset})
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another trainer mid-job; it will see the command
            # again, and the repository makes that a no-op for a job that has ended.
            log.warning("commit of %s@%d failed after a rebalance: %s", partition, offset, exc)


class ControlListener:
    """Reads a broadcast topic from its end, on every partition, without a group."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str, poll_s: float = 0.5) -> None:
        self.consumer = consumer
        self.topic = topic
        self.poll_s = poll_s

    async def assign_from_end(self, timeout_s: float = 10.0) -> None:
        """Assign every partition of the topic and seek to its end."""
        partitions = await self._partitions(timeout_s)
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for partition in partitions:
            await self.consumer.position(partition)

    async def _partitions(self, timeout_s: float) -> list[TopicPartition]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            found = self.consumer.partitions_for_topic(self.topic)
            if found:
                return [TopicPartition(self.topic, p) for p in sorted(found)]
            if asyncio.get_running_loop().time() > deadline:
                msg = f"control topic {self.topic!r} has no partitions"
                raise KafkaError(msg)
            await self.consumer.topics()
            await asyncio.sleep(0.1)

    async def run(
        self, stopping: asyncio.Event, on_message: Callable[[Record], Awaitable[None]]
    ) -> None:
        while not stopping.is_set():
            batch = await self.consumer.getmany(timeout_ms=int(self.poll_s * 1000))
            for records in batch.values():
                for record in records:
                    await on_message(record)
