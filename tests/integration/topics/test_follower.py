"""TopicFollower on the embedded broker: a topic created later is found, every message is
handed over in order, and the dashboard's loss curves follow the TrainingStatus topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from tonebridge.api.ui.losses import LossCurves
from tonebridge.broker import EmbeddedBroker
from tonebridge.settings import Settings, load_settings
from tonebridge.topics.admin import create_topics
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.follower import TopicFollower
from tonebridge.topics.training import TRAINING_STATUS_TOPIC, training_status

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(broker: EmbeddedBroker, unique: str) -> Settings:
    return load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers, kafka_topic_prefix=f"follow-{unique}."
    )


class Collect(TopicFollower):
    def __init__(self, settings: Settings, topic: str) -> None:
        super().__init__(settings, topic, "test-follower", fetch_max_wait_ms=20)
        self.seen: dict[int, list[bytes]] = {}

    def take(self, partition: TopicPartition, messages: Sequence[ConsumerRecord]) -> None:
        self.seen.setdefault(partition.partition, []).extend(m.value for m in messages)


async def until(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)  # polling another task's state: nothing to await on


async def test_a_follower_finds_a_later_topic_and_reads_it_all_in_order(
    settings: Settings,
) -> None:
    topic = f"{settings.kafka_topic_prefix}later"
    follower = Collect(settings, topic)
    await follower.start()
    producer = AIOKafkaProducer(**client_kwargs(settings, "test-producer"))
    await producer.start()
    try:
        await asyncio.sleep(0.5)  # the follower runs before the topic exists
        for n in range(30):
            await producer.send_and_wait(topic, b"%d" % n, partition=0)
        await until(lambda: len(follower.seen.get(0, [])) == 30)
    finally:
        await producer.stop()
        await follower.stop()
    assert follower.seen[0] == [b"%d" % n for n in range(30)]


async def test_loss_curves_follow_training_statuses_and_skip_bad_records(
    settings: Settings,
) -> None:
    await create_topics(settings)
    topic = TRAINING_STATUS_TOPIC.name(settings)
    curves = LossCurves(settings)
    await curves.start()
    producer = AIOKafkaProducer(**client_kwargs(settings, "test-producer"))
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"not avro", key=b"job-1")
        for step, loss in ((1, 2.5), (2, 1.5), (2, 1.5), (3, 1.0)):
            status = training_status("job-1", "c", "running", step=step, loss=loss, progress=0.5)
            message = TRAINING_STATUS_TOPIC.encode(status)
            await producer.send_and_wait(topic, message.value, key=message.key)
        await until(lambda: len(curves.curve("job-1")) == 3)
    finally:
        await producer.stop()
        await curves.stop()
    assert [(p["step"], p["loss"]) for p in curves.curve("job-1")] == [(1, 2.5), (2, 1.5), (3, 1.0)]
