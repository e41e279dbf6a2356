"""The command loop against the embedded broker: pause while busy, commit after, stay in group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tonebridge.broker import EmbeddedBroker
from tonebridge.handlers.trainer.loop import CommandLoop, ControlListener, Record

pytestmark = pytest.mark.integration


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def send(bootstrap: str, topic: str, *values: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def wait_for(condition: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def consumer(broker: EmbeddedBroker, unique: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers,
        group_id=f"trainer-{unique}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        rebalance_timeout_ms=3000,
        max_poll_interval_ms=1500,
    )
    await consumer.start()
    yield consumer
    await consumer.stop()


async def test_one_command_at_a_time_committed_only_after_it_ends(
    broker: EmbeddedBroker, consumer: AIOKafkaConsumer, unique: str
) -> None:
    topic = f"commands-{unique}"
    await create_topic(broker.bootstrap_servers, topic)
    seen: list[bytes] = []
    release = asyncio.Event()

    async def handle(record: Record) -> None:
        seen.append(record.value)
        await release.wait()

    loop = CommandLoop(consumer, handle, poll_s=0.2)
    loop.subscribe(topic)
    stopping = asyncio.Event()
    running = asyncio.create_task(loop.run(stopping))
    await send(broker.bootstrap_servers, topic, b"first", b"second")
    await wait_for(lambda: seen == [b"first"])
    partition = TopicPartition(topic, 0)
    # Longer than max_poll_interval_ms: the member must stay in its group meanwhile.
    await asyncio.sleep(2.5)
    assert seen == [b"first"]
    assert consumer.paused() == {partition}
    assert await consumer.committed(partition) is None
    release.set()
    await wait_for(lambda: seen == [b"first", b"second"])
    await wait_for(lambda: not loop.busy)
    assert await consumer.committed(partition) == 2
    stopping.set()
    await running


async def test_a_failing_handler_leaves_its_command_uncommitted(
    broker: EmbeddedBroker, consumer: AIOKafkaConsumer, unique: str
) -> None:
    topic = f"commands-{unique}"
    await create_topic(broker.bootstrap_servers, topic)

    async def handle(record: Record) -> None:
        msg = "database is down"
        raise RuntimeError(msg)

    loop = CommandLoop(consumer, handle, poll_s=0.2)
    loop.subscribe(topic)
    await send(broker.bootstrap_servers, topic, b"only")
    with pytest.raises(RuntimeError, match="database is down"):
        await asyncio.wait_for(loop.run(asyncio.Event()), 30)
    assert await consumer.committed(TopicPartition(topic, 0)) is None
    assert not consumer.paused()


async def test_control_listener_reads_every_partition_from_the_end(
    broker: EmbeddedBroker, unique: str
) -> None:
    topic = f"control-{unique}"
    await create_topic(broker.bootstrap_servers, topic, partitions=3)
    await send(broker.bootstrap_servers, topic, b"old")
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        listener = ControlListener(consumer, topic, poll_s=0.2)
        await listener.assign_from_end()
        assert len(consumer.assignment()) == 3
        got: list[bytes] = []

        async def on_message(record: Record) -> None:
            got.append(record.value)

        stopping = asyncio.Event()
        task = asyncio.create_task(listener.run(stopping, on_message))
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap_servers, enable_idempotence=False
        )
        await producer.start()
        for part in range(3):
            await producer.send_and_wait(topic, f"stop-{part}".encode(), partition=part)
        await producer.stop()
        await wait_for(lambda: len(got) == 3)
        assert sorted(got) == [b"stop-0", b"stop-1", b"stop-2"]
        stopping.set()
        await task
    finally:
        await consumer.stop()
