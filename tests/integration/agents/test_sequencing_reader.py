"""The sequencer's reader against the embedded broker: a range of a partition, read directly."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from tonebridge.agents.runtime.sequencing import BrokerReader
from tonebridge.broker import EmbeddedBroker
from tonebridge.errors import BrokerError
from tonebridge.settings import load_settings
from tonebridge.topics.connection import client_kwargs

pytestmark = pytest.mark.integration


async def test_reads_exactly_the_range_asked_for(broker: EmbeddedBroker, unique: str) -> None:
    settings = load_settings(kafka_bootstrap_servers=broker.bootstrap_servers)
    topic = f"{unique}.reader"
    producer = AIOKafkaProducer(linger_ms=20, **client_kwargs(settings, "test-reader"))
    await producer.start()
    try:
        sent = [
            await producer.send(topic, f"m{i}".encode(), key=b"k", partition=0) for i in range(10)
        ]
        await producer.flush()
        assert [(await s).offset for s in sent] == list(range(10))
    finally:
        await producer.stop()

    reader = BrokerReader(settings, timeout_s=3)
    try:
        assert await reader.log_start(topic, 0) == 0
        found = await reader.read(topic, 0, 3, 7)  # from inside the producer's record batch
        assert [(o.offset, o.key, value) for o, value in found] == [
            (i, b"k", f"m{i}".encode()) for i in range(3, 7)
        ]
        assert [o.offset for o, _ in await reader.read(topic, 0, 0, 2)] == [0, 1]
        with pytest.raises(BrokerError, match="could not read offsets 8-11"):
            await reader.read(topic, 0, 8, 12)  # offsets 10 and 11 do not exist (yet)
    finally:
        await reader.stop()
