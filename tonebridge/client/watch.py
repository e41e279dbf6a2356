"""Follow the model registry: ``ModelRegistered`` and ``ModelChanged`` events as they happen.

::

    async with contextlib.aclosing(watch_models(settings, position=saved)) as events:
        async for event in events:
            handle(event)
            save(event.position)  # {partition: next offset}: resume right after this event

(or ``async with ModelWatch(settings, ...) as watch: async for event in watch: ...``, which is
positioned as soon as it is entered).

Resuming uses a *position* the caller persists rather than a consumer group: a
``{partition: next offset}`` dict, as Kafka commits it. Every yielded event carries the
position just after itself, so storing it after handling the event and passing it back later
resumes exactly there (at-least-once: an event handled but not yet saved comes again, so
deduplicate on ``event_id`` if it matters; events packed into one Kafka message are resumed
as a whole). No group means no rebalance wait on start and any
number of independent watchers. Partitions missing from ``position`` start at the beginning
(``from_beginning=True``) or at the end (default: only new events).

The reading itself (``assign``, ``seek``, ``read_items``) is shared with the experiment router
(:mod:`tonebridge.client.router`), which follows the A/B topics too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.messages import Item
from tonebridge.topics.models import MODEL_CHANGED, MODEL_EVENTS_TOPIC
from tonebridge.topics.spec import TopicSpec

log = logging.getLogger(__name__)
Position = dict[int, int]
TOPIC_POLL_S = 1.0


@dataclass(frozen=True)
class ModelEvent:
    """One registry event and where it sits in the topic."""

    kind: str  # ModelRegistered or ModelChanged
    record: dict[str, Any]
    partition: int
    offset: int
    position: Position  # resume here to continue after this event

    @property
    def model_id(self) -> str:
        return str(self.record["model_id"])

    @property
    def name(self) -> str:
        return str(self.record["name"])

    @property
    def change(self) -> str | None:
        """deployed, rolled_back or archived for ModelChanged; None for ModelRegistered."""
        return str(self.record["change"]) if self.kind == MODEL_CHANGED else None


class ModelWatch:
    """The watch as an async context manager: once entered, the watch is positioned (so
    events produced afterwards are seen) and :attr:`position` tells where it stands."""

    def __init__(
        self,
        settings: Settings,
        *,
        position: Mapping[int, int] | None = None,
        from_beginning: bool = False,
        names: Collection[str] | None = None,
        client_id: str = "tonebridge-watch",
    ) -> None:
        self.settings = settings
        self.position: Position = {}
        self._start = dict(position or {})
        self._from_beginning = from_beginning
        self._names = names
        self._consumer = AIOKafkaConsumer(
            **client_kwargs(settings, client_id), group_id=None, enable_auto_commit=False
        )

    async def __aenter__(self) -> ModelWatch:
        await self._consumer.start()
        try:
            self.position = await self._assign()
        except BaseException:
            await self._consumer.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    def __aiter__(self) -> AsyncIterator[ModelEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[ModelEvent]:
        async for message in self._consumer:
            for event in _events(message, self.position):
                if self._names is None or event.name in self._names:
                    yield event

    async def _assign(self) -> Position:
        topic = MODEL_EVENTS_TOPIC.name(self.settings)
        partitions = await assign(self._consumer, self.settings, [topic])
        for tp in partitions:
            await seek(self._consumer, tp, self._start, from_beginning=self._from_beginning)
        return {tp.partition: await self._consumer.position(tp) for tp in partitions}


async def watch_models(
    settings: Settings,
    *,
    position: Mapping[int, int] | None = None,
    from_beginning: bool = False,
    names: Collection[str] | None = None,
    client_id: str = "tonebridge-watch",
) -> AsyncGenerator[ModelEvent, None]:
    """Yield model events until the caller stops iterating; see the module doc."""
    watch = ModelWatch(
        settings,
        position=position,
        from_beginning=from_beginning,
        names=names,
        client_id=client_id,
    )
    async with watch:
        async for event in watch:
            yield event


async def assign(
    consumer: AIOKafkaConsumer, settings: Settings, topics: Sequence[str]
) -> list[TopicPartition]:
    """Assign ``consumer`` every partition of ``topics`` (waiting until each topic exists)."""
    partitions = [
        TopicPartition(topic, p)
        for topic in topics
        for p in await wait_for_partitions(settings, topic)
    ]
    consumer.assign(partitions)
    return partitions


async def seek(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    start: Mapping[int, int],
    *,
    from_beginning: bool,
) -> None:
    """Position ``tp`` at its offset in ``start``, else at its beginning or its end."""
    if tp.partition in start:
        consumer.seek(tp, int(start[tp.partition]))
    elif from_beginning:
        await consumer.seek_to_beginning(tp)
    else:
        await consumer.seek_to_end(tp)


async def wait_for_partitions(settings: Settings, topic: str) -> list[int]:
    """The topic's partition ids, waiting (polling metadata) until the topic exists."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings, "tonebridge-watch-admin"))
    await admin.start()
    try:
        while True:
            described = await admin.describe_topics([topic])
            found = [t for t in described if t["topic"] == topic and t["error_code"] == 0]
            if found and found[0]["partitions"]:
                return sorted(int(p["partition"]) for p in found[0]["partitions"])
            log.info("waiting for topic %s to exist", topic)
            await asyncio.sleep(TOPIC_POLL_S)
    finally:
        await admin.close()


def _events(message: ConsumerRecord[bytes, bytes], current: Position) -> list[ModelEvent]:
    """The message's events; the last one's position moves past the message."""
    decoded = read_items(message, MODEL_EVENTS_TOPIC)
    events = []
    for index, item in enumerate(decoded):
        done = index == len(decoded) - 1
        if done:
            current[message.partition] = message.offset + 1
        # A batch is resumed as a whole, so mid-batch events keep the batch's own offset.
        at = dict(current) if done else {**current, message.partition: message.offset}
        events.append(ModelEvent(item.name, item.record, message.partition, message.offset, at))
    if not decoded:
        current[message.partition] = message.offset + 1
    return events


def read_items(message: ConsumerRecord[bytes, bytes], spec: TopicSpec) -> list[Item]:
    """The good events of a message on ``spec``'s topic; the bad ones are logged and skipped."""
    intake = spec.read(message.value or b"")
    for reject in intake.rejects:
        log.warning(
            "skipping undecodable %s at %s/%s", reject.reason(), message.partition, message.offset
        )
    return intake.items
