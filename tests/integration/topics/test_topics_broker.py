"""Every event type through the embedded broker, singly and in EventBatches; topic creation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from typer.testing import CliRunner

from tests.support.kafka import Landed, read_events
from tests.support.samples import STOP_COMMAND, sample
from tonebridge.avro.codec import Record, encode_batch
from tonebridge.broker import EmbeddedBroker, free_port
from tonebridge.cli import app
from tonebridge.errors import BrokerError
from tonebridge.settings import Settings, load_settings
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC
from tonebridge.topics.admin import create_topics
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC, MODEL_EVENTS_TOPIC
from tonebridge.topics.registry import ALL_TOPICS
from tonebridge.topics.spec import TopicSpec, partition_for
from tonebridge.topics.training import (
    TRAINING_COMMANDS_TOPIC,
    TRAINING_CONTROL_TOPIC,
    TRAINING_STATUS_TOPIC,
)

pytestmark = pytest.mark.integration

Make = Callable[[int], Record]
CASES: list[tuple[TopicSpec, str, Make]] = [
    (FEEDBACK_TOPIC, "FeedbackEvent", lambda n: sample("FeedbackEvent", n)),
    (INFERENCE_OUTCOMES_TOPIC, "InferenceOutcome", lambda n: sample("InferenceOutcome", n)),
    (TRAINING_COMMANDS_TOPIC, "TrainingCommand", lambda n: sample("TrainingCommand", n)),
    (TRAINING_CONTROL_TOPIC, "TrainingCommand", STOP_COMMAND),
    (TRAINING_STATUS_TOPIC, "TrainingStatus", lambda n: sample("TrainingStatus", n % 2)),
    (MODEL_EVENTS_TOPIC, "ModelRegistered", lambda n: sample("ModelRegistered", n)),
    (MODEL_EVENTS_TOPIC, "ModelChanged", lambda n: sample("ModelChanged", n)),
    (MODEL_COMMANDS_TOPIC, "ModelCommand", lambda n: sample("ModelCommand", n % 3)),
    (ABTEST_COMMANDS_TOPIC, "ABTestCommand", lambda n: sample("ABTestCommand", n)),
    (ABTEST_VERDICTS_TOPIC, "ABTestVerdict", lambda n: sample("ABTestVerdict", n)),
    (DEADLETTER_TOPIC, "DeadLetter", lambda n: sample("DeadLetter", n)),
]
SINGLES = range(0, 3)
BATCHED = range(3, 9)


@pytest.fixture
def settings(broker: EmbeddedBroker, unique: str) -> Settings:
    return load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers, kafka_topic_prefix=f"test-{unique}."
    )


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    kafka = AIOKafkaProducer(**client_kwargs(settings), acks="all", enable_idempotence=False)
    await kafka.start()
    yield kafka
    await kafka.stop()


def with_unique_ids(make: Make, n: int) -> Record:
    # Several cases share an id scheme (a status per job, a command per model): make ids unique.
    record = make(n)
    return record | {"event_id": f"{record['event_id']}/{n}"}


async def send_singly(producer: AIOKafkaProducer, settings: Settings, records: list[Any]) -> None:
    for spec, schema, record in records:
        message = spec.encode(record, schema)
        await producer.send_and_wait(spec.name(settings), message.value, message.key)


async def send_batched(producer: AIOKafkaProducer, settings: Settings, records: list[Any]) -> None:
    by_key: dict[tuple[str, bytes], list[bytes]] = {}
    for spec, schema, record in records:
        message = spec.encode(record, schema)
        by_key.setdefault((spec.name(settings), message.key), []).append(message.value)
    for (topic, key), values in by_key.items():
        await producer.send_and_wait(topic, encode_batch(values), key)


async def test_every_event_type_travels_singly_and_batched(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    report = await create_topics(settings)
    assert sorted(report.created) == sorted(spec.name(settings) for spec in ALL_TOPICS)
    singles = [(s, schema, with_unique_ids(make, n)) for s, schema, make in CASES for n in SINGLES]
    batched = [(s, schema, with_unique_ids(make, n)) for s, schema, make in CASES for n in BATCHED]
    await send_singly(producer, settings, singles)
    await send_batched(producer, settings, batched)

    for spec in ALL_TOPICS:
        sent = {r["event_id"]: (schema, r) for s, schema, r in singles + batched if s is spec}
        landed = await read_events(settings, spec, at_least=len(sent))
        assert sorted(item.event.record["event_id"] for item in landed) == sorted(sent)
        for item in landed:
            check_landed(settings, spec, item, *sent[item.event.record["event_id"]])
        assert {item.in_batch for item in landed} == {True, False}


def check_landed(
    settings: Settings, spec: TopicSpec, item: Landed, schema: str, record: Record
) -> None:
    assert item.event.name == schema
    assert item.event.record == record
    assert item.key == spec.key(record)
    assert item.partition == partition_for(spec.key(record), spec.partition_count(settings))


async def test_create_topics_is_idempotent_and_reports_partition_mismatch(
    settings: Settings,
) -> None:
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(FEEDBACK_TOPIC.name(settings), 1, 1)])
    finally:
        await admin.close()
    first = await create_topics(settings)
    second = await create_topics(settings)
    everything = sorted(spec.name(settings) for spec in ALL_TOPICS)
    assert sorted(first.created + first.existing) == everything
    assert first.existing == (FEEDBACK_TOPIC.name(settings),)
    assert (second.created, sorted(second.existing)) == ((), everything)
    wanted = FEEDBACK_TOPIC.partition_count(settings)
    assert second.mismatched == ((FEEDBACK_TOPIC.name(settings), wanted, 1),)


def test_cli_topics_create_twice(broker: EmbeddedBroker, unique: str) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": f"cli-{unique}.",
    }
    runner = CliRunner()
    first = runner.invoke(app, ["topics", "create"], env=env)
    second = runner.invoke(app, ["topics", "create"], env=env)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert first.output.count("created ") == len(ALL_TOPICS)
    assert second.output.count("exists ") == len(ALL_TOPICS)
    assert f"cli-{unique}.tonebridge.feedback.v1" in second.output


async def test_create_topics_gives_up_on_a_dead_broker() -> None:
    settings = load_settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    with pytest.raises(BrokerError, match="could not create topics"):
        await create_topics(settings, timeout_s=1.0)
