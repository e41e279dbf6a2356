"""Commands not yet applied, read straight from the commands topic for the outcomes agent.

A consumer reads two topics in no guaranteed order: replaying a backlog, the outcomes agent
can meet outcomes of a test whose create command the commands agent has not handled yet.
Waiting for that agent inside the outcomes agent can deadlock faust (a full queue of one
agent stops delivery to the other), so the outcomes agent reads the command itself: every
command of the partition from the group's committed offset to the end. It applies the
creates it needs; the offset marks make the commands agent skip them later.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.messages import Message, Origin

log = logging.getLogger(__name__)


class PendingCommands:
    """Reads, on demand, the commands of a partition that may not be applied yet."""

    def __init__(self, settings: Settings, group_id: str, topic: str) -> None:
        self._settings = settings
        self._group_id = group_id
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self.timeout_s = 10.0

    async def _side_consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            # Only reads the group's committed offsets: it must never commit its own.
            consumer = AIOKafkaConsumer(
                group_id=self._group_id,
                enable_auto_commit=False,
                fetch_max_wait_ms=self._settings.kafka_fetch_max_wait_ms,
                **client_kwargs(self._settings, "tonebridge-pending-commands"),
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def read(self, partition: int) -> list[Message]:
        """Every command of ``partition`` from the committed offset to the end."""
        consumer = await self._side_consumer()
        tp = TopicPartition(self._topic, partition)
        consumer.assign([tp])
        committed = await consumer.committed(tp) or 0
        reported = (await consumer.end_offsets([tp]))[tp]
        if reported == 0:
            return []
        # The embedded broker (Tansu) reports the base offset of the last record batch plus
        # one as the end, short of it when that batch holds several records; a fetch's high
        # watermark is right. Read from at least one record before the reported end.
        consumer.seek(tp, min(committed, reported - 1))
        messages: list[Message] = []
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            records = (await consumer.getmany(tp, timeout_ms=100)).get(tp, [])
            messages += [
                (Origin(m.topic, m.partition, m.offset, m.key, m.timestamp), m.value)
                for m in records
                if m.offset >= committed
            ]
            end = consumer.highwater(tp)  # known after the first fetch answered
            if end is not None and await consumer.position(tp) >= end:
                return messages
        log.warning("could not read %s to its end within %.0fs", tp, self.timeout_s)
        return messages
