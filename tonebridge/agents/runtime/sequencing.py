"""Every message of a source partition reaches its agent once, in offset order.

faust 0.15 can hand an agent a partition's messages with holes right after a rebalance: its
fetcher already drains records while the recovery seeks the partitions to their committed
offsets, and the read position it then restores makes it treat the records in between as a
gap it will never deliver (and may commit past). Seen in the scale-out test as 1 to 61
messages of a partition missing from the survivor's counts. Per-key offset marks
(:mod:`tonebridge.decisions.watermarks`) cannot notice a hole: the next message of the same key
moves the mark past it.

So each agent table also keeps, per source partition, the last offset applied (a reserved key,
:meth:`ExactTable.source_mark`), written after the batch's values to the same changelog
partition: the producer keeps one partition's records in order, so the mark is never durable
before the values it vouches for. Before a batch is handled, :class:`Sequencer` drops the
messages at or below the mark (replays) and reads any missing range straight from the broker,
so the handler sees each offset once and in order, whatever faust delivered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from tonebridge.agents.runtime.tables import ExactTable
from tonebridge.decisions.watermarks import source_id
from tonebridge.errors import BrokerError
from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.messages import Message, Origin

log = logging.getLogger(__name__)

Partition = tuple[str, int]  # (topic, partition)


class Reader(Protocol):
    """Reads a source partition directly, outside the agent's consumer group."""

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Message]:
        """The messages with ``start <= offset < end`` (offsets may be absent, e.g. compacted)."""

    async def log_start(self, topic: str, partition: int) -> int:
        """The first offset the partition still holds."""

    async def reported_end(self, topic: str, partition: int) -> int:
        """The end offset the broker reports (the embedded one: inside the last batch)."""

    async def read_from(self, topic: str, partition: int, start: int, limit: int) -> list[Message]:
        """At most ``limit`` messages from ``start`` on, to the true end (a fetch's high
        watermark)."""


class Sequencer:
    """Puts a batch in order against the table's source marks, and records the new marks."""

    def __init__(self, table: ExactTable[Any], reader: Reader) -> None:
        self._table = table
        self._reader = reader

    async def arrange(self, batch: Sequence[Message]) -> tuple[list[Message], dict[Partition, int]]:
        """The batch without replays and with its holes filled; the last offset per partition."""
        arranged: list[Message] = []
        last: dict[Partition, int] = {}
        for origin, value in batch:
            where = (origin.topic, origin.partition)
            expected = last[where] + 1 if where in last else await self._next(where)
            if origin.offset < expected:
                continue  # applied before (a replay, or a rewind after a rebalance)
            if origin.offset > expected:
                missing = await self._reader.read(*where, expected, origin.offset)
                log.warning(
                    "%s:%d: offsets %d-%d were not delivered; read %d message(s) directly",
                    *where,
                    expected,
                    origin.offset - 1,
                    len(missing),
                )
                arranged += missing
            arranged.append((origin, value))
            last[where] = origin.offset
        return arranged, last

    async def overdue(
        self, partitions: Sequence[Partition], limit: int
    ) -> tuple[list[Message], dict[Partition, int]]:
        """Messages past the marks that never came (at most ``limit`` per partition), and the
        last offset per partition.

        faust can drop a partition's messages for good around a rebalance (above); ``arrange``
        reads such a hole when a later message arrives, but when none does (the stream went
        quiet) only a look at the partition's end finds them. The limit keeps a sweep short:
        when faust is merely slow to start, it takes over again after one sweep's worth.
        """
        found: list[Message] = []
        last: dict[Partition, int] = {}
        for where in partitions:
            start = await self._next(where)
            # The embedded broker's reported end stops at its last record batch, which may
            # still hold messages past the mark: only an empty partition is skipped unread.
            if await self._reader.reported_end(*where) == 0:
                continue
            missing = await self._reader.read_from(*where, start, limit)
            if missing:
                log.warning("%s:%d: offsets %d-%d were not delivered; read them directly",
                            *where, start, missing[-1][0].offset)  # fmt: skip
                found += missing
                last[where] = missing[-1][0].offset
        return found, last

    async def record(self, last: dict[Partition, int]) -> None:
        """Store the marks of a handled batch (after its values, in the same partitions)."""
        for (topic, partition), offset in last.items():
            await self._table.put_source_mark(source_id(topic, partition), offset, partition)

    async def _next(self, where: Partition) -> int:
        mark = self._table.source_mark(source_id(*where))
        if mark is not None:
            return mark + 1
        return await self._reader.log_start(*where)


Done = Callable[[AIOKafkaConsumer, TopicPartition, int], Awaitable[bool]]


class BrokerReader:
    """A :class:`Reader` over its own consumer (no group), started on first use."""

    def __init__(self, settings: Settings, timeout_s: float = 30.0) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._consumer: AIOKafkaConsumer | None = None

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                group_id=None,
                enable_auto_commit=False,
                fetch_max_wait_ms=self._settings.kafka_fetch_max_wait_ms,
                **client_kwargs(self._settings, "tonebridge-sequencer"),
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Message]:
        async def done(consumer: AIOKafkaConsumer, tp: TopicPartition, _: int) -> bool:
            return bool(await consumer.position(tp) >= end)

        what = f"offsets {start}-{end - 1}"
        found = await self._collect(TopicPartition(topic, partition), start, done, what)
        return [message for message in found if message[0].offset < end]

    async def log_start(self, topic: str, partition: int) -> int:
        consumer = await self._started()
        tp = TopicPartition(topic, partition)
        return int((await consumer.beginning_offsets([tp]))[tp])

    async def reported_end(self, topic: str, partition: int) -> int:
        consumer = await self._started()
        tp = TopicPartition(topic, partition)
        return int((await consumer.end_offsets([tp]))[tp])

    async def read_from(self, topic: str, partition: int, start: int, limit: int) -> list[Message]:
        async def done(consumer: AIOKafkaConsumer, tp: TopicPartition, count: int) -> bool:
            high = consumer.highwater(tp)  # the true end, known once a fetch has answered
            return count >= limit or (high is not None and await consumer.position(tp) >= high)

        what = f"from offset {start} to the end"
        return (await self._collect(TopicPartition(topic, partition), start, done, what))[:limit]

    async def _collect(
        self, tp: TopicPartition, start: int, done: Done, what: str
    ) -> list[Message]:
        """Fetch from ``start`` until ``done`` says so, within the reader's timeout."""
        consumer = await self._started()
        consumer.assign([tp])
        consumer.seek(tp, start)
        found: list[Message] = []
        deadline = time.monotonic() + self._timeout_s
        while not await done(consumer, tp, len(found)):
            if time.monotonic() > deadline:
                msg = f"{tp.topic}:{tp.partition}: could not read {what}"
                raise BrokerError(msg)
            for record in (await consumer.getmany(tp, timeout_ms=100)).get(tp, []):
                if record.offset >= start:
                    origin = Origin(
                        tp.topic, tp.partition, record.offset, record.key, record.timestamp
                    )
                    found.append((origin, record.value))
        return found

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
