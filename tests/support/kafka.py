"""Read what landed on a topic: every partition from the start, until enough arrived."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from tonebridge.avro.codec import Decoded, split_message
from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.spec import TopicSpec


@dataclass(frozen=True)
class Landed:
    """One event as read back: where it was and what it was."""

    partition: int
    key: bytes | None
    events_in_message: int
    in_batch: bool  # the message was an EventBatch (possibly of one)
    event: Decoded


async def read_events(
    settings: Settings, spec: TopicSpec, *, at_least: int, timeout_s: float = 30.0
) -> list[Landed]:
    """Every event on ``spec``'s topic once ``at_least`` have arrived (or the deadline passed)."""
    consumer = AIOKafkaConsumer(**client_kwargs(settings, "tonebridge-test-reader"))
    await consumer.start()
    try:
        topic = spec.name(settings)
        count = spec.partition_count(settings)
        partitions = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        return await _drain(consumer, spec, at_least, time.monotonic() + timeout_s)
    finally:
        await consumer.stop()


async def _drain(
    consumer: AIOKafkaConsumer, spec: TopicSpec, at_least: int, deadline: float
) -> list[Landed]:
    landed: list[Landed] = []
    while len(landed) < at_least and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=200)
        for tp, messages in batches.items():
            for message in messages:
                in_batch = split_message(message.value) != [message.value]
                events = spec.decode(message.value)
                landed += [
                    Landed(tp.partition, message.key, len(events), in_batch, e) for e in events
                ]
    return landed
