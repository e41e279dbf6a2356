"""Follow the loop's command and event topics from the beginning, without a consumer group.

The demo reads what the services say to each other (training commands and status, model
events and commands, A/B commands and verdicts) and hands each decoded event to a callback;
it never commits offsets, so it changes nothing for the services.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from tonebridge.avro.codec import Decoded, Record
from tonebridge.errors import DecodeError
from tonebridge.settings import Settings
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC, MODEL_EVENTS_TOPIC
from tonebridge.topics.spec import TopicSpec
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC, TRAINING_STATUS_TOPIC

log = logging.getLogger(__name__)

FOLLOWED: tuple[TopicSpec, ...] = (
    TRAINING_COMMANDS_TOPIC,
    TRAINING_STATUS_TOPIC,
    MODEL_EVENTS_TOPIC,
    MODEL_COMMANDS_TOPIC,
    ABTEST_COMMANDS_TOPIC,
    ABTEST_VERDICTS_TOPIC,
)
OnEvent = Callable[[str, Record], None]


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The topic's partitions (the topics exist: the demo created them)."""
    await consumer.topics()  # refreshes the cluster metadata
    while not (ids := consumer.partitions_for_topic(topic)):
        await asyncio.sleep(0.1)
        await consumer.topics()
    return [TopicPartition(topic, p) for p in sorted(ids)]


async def follow(
    settings: Settings, on_event: OnEvent, specs: Sequence[TopicSpec] = FOLLOWED
) -> None:
    """Call ``on_event(name, record)`` for every event on ``specs``' topics, until cancelled."""
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings, "tonebridge-demo-follow"),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    by_topic = {spec.name(settings): spec for spec in specs}
    try:
        assigned = [tp for spec in specs for tp in await _partitions(consumer, spec.name(settings))]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            messages = [m for ms in batches.values() for m in ms]
            events = [e for m in messages for e in _decoded(by_topic[m.topic], m.value)]
            # topics interleave arbitrarily within a fetch: event time puts causes first
            for event in sorted(events, key=lambda e: e.record["event_time"]):
                on_event(event.name, event.record)
    finally:
        await asyncio.shield(consumer.stop())


def _decoded(spec: TopicSpec, payload: bytes | None) -> list[Decoded]:
    try:
        return spec.decode(payload)
    except DecodeError as exc:
        log.warning("skipping an undecodable message: %s", exc)
        return []
