"""The ``persist_feedback`` consumer: every feedback event stored once in the database.

It has its own consumer group, so the database's pace never holds the statistics back (and
the statistics' pace never holds the database back). Each poll becomes one batched
``FeedbackRepository.add_many``, an upsert by event id, and the offsets are committed only
after it: a crash repeats a batch, and the repeat inserts nothing. Events the database
refuses (a model it does not know, ...) are dead-lettered; undecodable or invalid events are
left to the statistics agent, which dead-letters them (both apply the same checks).

A transient failure (database down, connection refused, timeout) is retried for as long as it
lasts. A permanent one that the checks did not foresee fails the write of a chunk: the chunk is
then written one event at a time, so only the event the database refuses is dead-lettered,
with the database's reason, and the rest is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError

from tonebridge.agents.feedback import Limits, screened
from tonebridge.agents.runtime.consume import origin_of
from tonebridge.agents.runtime.outbox import Sent, dead_letter_record
from tonebridge.client.publisher import ProducerPublisher, Publisher
from tonebridge.errors import InvalidEventError, StoreError
from tonebridge.retry import retrying
from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.messages import Item, Origin, Reject

log = logging.getLogger(__name__)


class WriteResult(Protocol):
    @property
    def rejected(self) -> Sequence[Any]: ...


class FeedbackWriter(Protocol):
    async def add_many(self, events: Sequence[Mapping[str, Any]]) -> WriteResult: ...


@dataclass(frozen=True, slots=True)
class Pending:
    """The events of one poll, with where each came from."""

    records: list[Mapping[str, Any]]
    places: list[tuple[Origin, Item]]


def collect(messages: Sequence[Any], partitions: int, limits: Limits | None = None) -> Pending:
    """The valid events of ``messages``; invalid ones are the statistics agent's to report."""
    pending, now = Pending([], []), datetime.now(UTC)
    for message in messages:
        origin = origin_of(message)
        items = FEEDBACK_TOPIC.read(message.value).items
        good, _ = screened(items, origin, partitions, now, limits or Limits())
        for item, _sample in good:
            pending.records.append(item.record)
            pending.places.append((origin, item))
    return pending


class FeedbackSink:
    def __init__(
        self, settings: Settings, writer: FeedbackWriter, *, group_id: str, sent: Sent | None = None
    ) -> None:
        self._settings = settings
        self._writer = writer
        self._group_id = group_id
        self._sent = sent  # told of the dead letters sent (the worker's metrics)
        self.max_records = 200  # messages per poll (each up to an EventBatch of 500 events)
        # Rows per add_many: the repository's bulk insert with RETURNING slows down more than
        # linearly on big batches (28k rows took a minute on SQLite; 1k rows ~0.15 s).
        self.rows_per_write = 1000
        self.stored = 0  # events written or found already written, for progress reports
        self._limits = Limits.of(settings)

    def _consumer(self) -> AIOKafkaConsumer:
        s = self._settings
        return AIOKafkaConsumer(
            FEEDBACK_TOPIC.name(s),
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_records,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            session_timeout_ms=int(s.kafka_session_timeout_s * 1000),
            heartbeat_interval_ms=int(min(1.0, s.kafka_session_timeout_s / 3) * 1000),
            rebalance_timeout_ms=int(s.kafka_rebalance_timeout_s * 1000),
            fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
            **client_kwargs(s, "tonebridge-feedback-sink"),
        )

    async def run(self) -> None:
        """Consume until cancelled."""
        consumer = self._consumer()
        await consumer.start()
        try:
            async with ProducerPublisher(self._settings) as publisher:
                while True:
                    polled = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
                    messages = [m for batch in polled.values() for m in batch]
                    if messages:
                        await self.persist(messages, publisher)
                        await self._commit(consumer)
        finally:
            await consumer.stop()

    async def persist(self, messages: Sequence[Any], publisher: Publisher) -> None:
        """Write one poll's events; dead-letter what the database refuses (acknowledged by
        the broker before this returns, so before the poll's offsets are committed)."""
        partitions = FEEDBACK_TOPIC.partition_count(self._settings)
        pending = collect(messages, partitions, self._limits)
        refused: dict[int, str] = {}
        for start in range(0, len(pending.records), self.rows_per_write):
            chunk = pending.records[start : start + self.rows_per_write]
            refused.update({start + i: why for i, why in (await self._write(chunk)).items()})
        self.stored += len(pending.records) - len(refused)
        letters = []
        for index, reason in refused.items():
            origin, item = pending.places[index]
            reject = Reject(item.index, item.payload, InvalidEventError(f"not stored: {reason}"))
            letters.append(dead_letter_record(origin, reject))
        await publisher.publish(DEADLETTER_TOPIC, *letters)
        if self._sent is not None and letters:
            self._sent(DEADLETTER_TOPIC, letters)

    async def _write(self, chunk: Sequence[Mapping[str, Any]]) -> dict[int, str]:
        """Write ``chunk``; the index and reason of each event the database refused."""
        try:
            return await self._add(chunk)
        except StoreError as exc:
            log.warning(
                "a chunk of %d events failed (%r): writing them one by one", len(chunk), exc
            )
        refused: dict[int, str] = {}
        for index, event in enumerate(chunk):
            try:
                reasons = list((await self._add([event])).values())
            except StoreError as exc:
                reasons = [f"the database refused it: {exc}"]
            if reasons:
                refused[index] = reasons[0]
        return refused

    async def _add(self, events: Sequence[Mapping[str, Any]]) -> dict[int, str]:
        result = await retrying(partial(self._writer.add_many, events), "feedback write")
        return {r.index: r.reason for r in result.rejected}

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        try:
            await consumer.commit()
        except CommitFailedError as exc:
            # A rebalance took the partitions; their new owner repeats the batch harmlessly.
            log.warning("feedback sink commit failed after a rebalance: %r", exc)
