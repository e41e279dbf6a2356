"""The one Publisher over the producer SDK, against the embedded broker."""

from __future__ import annotations

import pytest

from tests.support.kafka import read_events
from tests.support.samples import sample
from tonebridge.broker import EmbeddedBroker
from tonebridge.client.publisher import ProducerPublisher
from tonebridge.errors import SchemaValidationError
from tonebridge.settings import Settings, load_settings
from tonebridge.topics.admin import create_topics
from tonebridge.topics.models import MODEL_CHANGED, MODEL_EVENTS_TOPIC, MODEL_REGISTERED

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(broker: EmbeddedBroker, unique: str) -> Settings:
    settings = load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers, kafka_topic_prefix=f"test-{unique}."
    )
    await create_topics(settings, (MODEL_EVENTS_TOPIC,))
    return settings


async def test_publish_returns_once_the_broker_has_every_record(settings: Settings) -> None:
    changes = [sample(MODEL_CHANGED, n) for n in range(3)]
    async with ProducerPublisher(settings) as publisher:
        await publisher.publish(MODEL_EVENTS_TOPIC, *changes, schema=MODEL_CHANGED)
        assert publisher.producer.stats.events_delivered == 3  # acknowledged, not just queued
    landed = await read_events(settings, MODEL_EVENTS_TOPIC, at_least=3)
    assert sorted(e.event.record["event_id"] for e in landed) == sorted(
        str(c["event_id"]) for c in changes
    )
    assert {e.event.name for e in landed} == {MODEL_CHANGED}


@pytest.mark.parametrize(
    ("record", "schema"),
    [
        ({"event_id": "half a record"}, MODEL_CHANGED),  # does not fit its schema
        (sample(MODEL_REGISTERED), None),  # the topic carries two record types: say which
    ],
)
async def test_a_record_that_cannot_be_encoded_is_refused_before_sending(
    settings: Settings, record: dict[str, object], schema: str | None
) -> None:
    async with ProducerPublisher(settings) as publisher:
        with pytest.raises(SchemaValidationError):
            await publisher.publish(MODEL_EVENTS_TOPIC, record, schema=schema)
        await publisher.publish(MODEL_EVENTS_TOPIC)  # nothing to publish: returns at once
        assert publisher.producer.stats.events_accepted == 0
