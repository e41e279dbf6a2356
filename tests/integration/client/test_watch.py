from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.samples import sample
from tonebridge.broker import EmbeddedBroker
from tonebridge.client import EventProducer, ProducerConfig
from tonebridge.client.watch import ModelEvent, ModelWatch, watch_models
from tonebridge.settings import Settings, load_settings
from tonebridge.topics.admin import create_topics
from tonebridge.topics.models import MODEL_EVENTS_TOPIC

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(broker: EmbeddedBroker, unique: str, tmp_path: Path) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": broker.bootstrap_servers,
        "kafka_topic_prefix": f"w{unique}.",
        "kafka_topic_partitions": 3,
        "data_dir": tmp_path,
    }
    configured = load_settings(**values)
    await create_topics(configured, [MODEL_EVENTS_TOPIC])
    return configured


def registered(n: int, name: str = "tone-formal") -> dict[str, Any]:
    return sample("ModelRegistered", n) | {"name": name, "model_id": f"{name}:{n}"}


def changed(n: int, name: str = "tone-formal", change: str = "deployed") -> dict[str, Any]:
    return sample("ModelChanged", n) | {"name": name, "model_id": f"{name}:{n}", "change": change}


async def produce(settings: Settings, *records: dict[str, Any], pack: bool = False) -> None:
    async with EventProducer(settings, ProducerConfig(pack=pack)) as producer:
        for record in records:
            await producer.send(
                MODEL_EVENTS_TOPIC,
                record,
                "ModelChanged" if "change" in record else "ModelRegistered",
            )


async def take(events: AsyncIterator[ModelEvent], count: int) -> list[ModelEvent]:
    async def collect() -> list[ModelEvent]:
        return [await anext(events) for _ in range(count)]

    return await asyncio.wait_for(collect(), timeout=20)


async def test_from_the_beginning_in_order_with_kinds(settings: Settings) -> None:
    await produce(settings, registered(1), changed(1), changed(1, change="rolled_back"))
    async with contextlib.aclosing(watch_models(settings, from_beginning=True)) as events:
        got = await take(events, 3)
    assert [(e.kind, e.change) for e in got] == [
        ("ModelRegistered", None),
        ("ModelChanged", "deployed"),
        ("ModelChanged", "rolled_back"),
    ]
    assert [e.model_id for e in got] == ["tone-formal:1"] * 3
    assert len({e.partition for e in got}) == 1  # one name, one partition, one order
    assert [e.offset for e in got] == sorted(e.offset for e in got)


async def test_a_saved_position_resumes_right_after_the_event(settings: Settings) -> None:
    await produce(settings, changed(1, "a"), changed(2, "b"), changed(3, "c"), changed(4, "a"))
    async with contextlib.aclosing(watch_models(settings, from_beginning=True)) as events:
        first_two = await take(events, 2)
    saved = first_two[-1].position
    async with contextlib.aclosing(watch_models(settings, position=saved)) as events:
        rest = await take(events, 2)
    seen = {e.record["event_id"] for e in first_two}
    assert {e.record["event_id"] for e in rest}.isdisjoint(seen)
    assert sorted(e.model_id for e in [*first_two, *rest]) == ["a:1", "a:4", "b:2", "c:3"]


async def test_by_default_only_new_events_and_names_filter(settings: Settings) -> None:
    await produce(settings, changed(1, "old"))
    async with ModelWatch(settings, names={"wanted"}) as watch:
        assert sum(watch.position.values()) == 1  # positioned after the old event
        await produce(settings, changed(2, "other"), changed(3, "wanted"))
        [event] = await take(aiter(watch), 1)
    assert event.model_id == "wanted:3"


async def test_undecodable_messages_are_skipped(settings: Settings) -> None:
    from aiokafka import AIOKafkaProducer

    from tonebridge.topics.connection import client_kwargs

    raw = AIOKafkaProducer(**client_kwargs(settings), enable_idempotence=False)
    await raw.start()
    try:
        await raw.send_and_wait(MODEL_EVENTS_TOPIC.name(settings), b"not avro", key=b"x")
    finally:
        await raw.stop()
    await produce(settings, changed(1, "x"))
    async with contextlib.aclosing(watch_models(settings, from_beginning=True)) as events:
        [event] = await take(events, 1)
    assert event.model_id == "x:1"
    assert event.position[event.partition] == event.offset + 1


async def test_a_batch_is_resumed_as_a_whole(settings: Settings) -> None:
    await produce(settings, changed(1), changed(2), changed(3), pack=True)
    async with contextlib.aclosing(watch_models(settings, from_beginning=True)) as events:
        got = await take(events, 3)
    assert len({(e.partition, e.offset) for e in got}) == 1  # one EventBatch message
    partition, offset = got[0].partition, got[0].offset
    assert [e.position[partition] for e in got] == [offset, offset, offset + 1]
