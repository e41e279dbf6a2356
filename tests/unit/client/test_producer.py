"""What the producer does before any broker is involved (the rest: tests/integration/client)."""

from __future__ import annotations

import pytest

from tests.support.samples import sample
from tonebridge.broker import free_port
from tonebridge.client import EventProducer, ProducerConfig, SyncEventProducer
from tonebridge.errors import ProduceError, SchemaValidationError
from tonebridge.settings import load_settings
from tonebridge.topics.feedback import FEEDBACK_TOPIC

NOWHERE = load_settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")


async def test_an_invalid_record_raises_before_anything_else() -> None:
    producer = EventProducer(NOWHERE)
    with pytest.raises(SchemaValidationError, match="rating"):
        await producer.send(FEEDBACK_TOPIC, sample("FeedbackEvent") | {"rating": 1.5})


async def test_sending_before_start_is_refused() -> None:
    producer = EventProducer(NOWHERE)
    with pytest.raises(ProduceError, match="not running"):
        await producer.send(FEEDBACK_TOPIC, sample("FeedbackEvent"))


async def test_an_event_over_the_message_limit_is_refused() -> None:
    producer = EventProducer(NOWHERE, ProducerConfig(max_message_bytes=1_000))
    record = sample("FeedbackEvent") | {"input_text": "x" * 2_000}
    with pytest.raises(ProduceError, match="over max_message_bytes"):
        await producer.send(FEEDBACK_TOPIC, record)


async def test_start_gives_up_on_an_unreachable_broker() -> None:
    producer = EventProducer(NOWHERE, ProducerConfig(start_timeout_s=0.3))
    with pytest.raises(ProduceError, match="cannot connect"):
        await producer.start()


def test_the_sync_producer_reports_an_unreachable_broker() -> None:
    with pytest.raises(ProduceError, match="cannot connect"):
        SyncEventProducer(NOWHERE, ProducerConfig(start_timeout_s=0.3))
