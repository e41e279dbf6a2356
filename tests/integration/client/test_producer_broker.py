"""The producer SDK against the embedded broker: packing, keys, back-pressure, outages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError

from tests.support.kafka import read_events
from tonebridge.broker import EmbeddedBroker, free_port
from tonebridge.client import EventProducer, ProducerConfig, SyncEventProducer
from tonebridge.client.kafka import confirm_topics
from tonebridge.errors import ProduceError, SchemaValidationError
from tonebridge.settings import Settings, load_settings
from tonebridge.topics.admin import create_topics
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.feedback import FEEDBACK_TOPIC, feedback_event
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC, inference_outcome
from tonebridge.topics.spec import TopicSpec, partition_for

pytestmark = pytest.mark.integration
TOPICS = (FEEDBACK_TOPIC, INFERENCE_OUTCOMES_TOPIC)


def feedback(n: int) -> dict[str, object]:
    return feedback_event(
        user_id=f"user-{n}",
        model_id=f"tone-formal-{n % 5}",
        input_text="send it asap",
        output_text="Could you send it when you have a moment?",
        transformation_type="formal",
        rating=1 + n % 5,
    )


def outcome(n: int) -> dict[str, object]:
    ab_test = f"ab-{n % 3}" if n % 2 else None
    return inference_outcome(request_id=f"r-{n}", model_id=f"m-{n % 4}", ab_test_id=ab_test)


@pytest.fixture
async def settings(broker: EmbeddedBroker, unique: str) -> Settings:
    settings = load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers, kafka_topic_prefix=f"test-{unique}."
    )
    await create_topics(settings, TOPICS)
    return settings


async def assert_all_landed(settings: Settings, spec: TopicSpec, sent: list[dict[str, object]]):
    landed = await read_events(settings, spec, at_least=len(sent))
    by_id = {str(r["event_id"]): r for r in sent}
    assert sorted(item.event.record["event_id"] for item in landed) == sorted(by_id)
    partitions = spec.partition_count(settings)
    for item in landed:
        record = by_id[item.event.record["event_id"]]
        assert item.event.record == record
        # A message carries the events of every key routed to its partition, keyed by one.
        assert item.partition == partition_for(spec.key(record), partitions)
        assert item.partition == partition_for(item.key, partitions)
    return landed


async def test_events_are_packed_per_partition_and_all_arrive(settings: Settings) -> None:
    feedbacks = [feedback(n) for n in range(3000)]
    outcomes = [outcome(n) for n in range(3000)]
    async with EventProducer(settings) as producer:
        for fb, io in zip(feedbacks, outcomes, strict=True):
            await producer.send(FEEDBACK_TOPIC, fb)
            await producer.send(INFERENCE_OUTCOMES_TOPIC, io)
        await producer.flush()
        assert producer.stats.events_delivered == 6000
        assert producer.stats.messages_sent <= 6000 / 50  # packing did happen
    landed = await assert_all_landed(settings, FEEDBACK_TOPIC, feedbacks)
    assert max(item.events_in_message for item in landed) == 500  # max_batch_events
    await assert_all_landed(settings, INFERENCE_OUTCOMES_TOPIC, outcomes)


async def test_pack_false_sends_one_message_per_event(settings: Settings) -> None:
    sent = [feedback(n) for n in range(200)]
    async with EventProducer(settings, ProducerConfig(pack=False)) as producer:
        receipts = [await producer.send(FEEDBACK_TOPIC, record) for record in sent]
        await producer.flush()
        assert all(r.done() and r.exception() is None for r in receipts)
        assert producer.stats.messages_sent == 200
    landed = await assert_all_landed(settings, FEEDBACK_TOPIC, sent)
    assert {item.in_batch for item in landed} == {False}


async def test_a_record_that_does_not_fit_raises_to_the_caller(settings: Settings) -> None:
    async with EventProducer(settings) as producer:
        with pytest.raises(SchemaValidationError, match="rating"):
            await producer.send(FEEDBACK_TOPIC, feedback(1) | {"rating": "great"})
        with pytest.raises(SchemaValidationError, match="model_id"):
            await producer.send(FEEDBACK_TOPIC, feedback(2) | {"model_id": None})
        assert producer.stats.events_accepted == 0
        await producer.send_and_wait(FEEDBACK_TOPIC, feedback(3))  # still works afterwards


def test_the_sync_producer_delivers(settings: Settings) -> None:
    sent = [outcome(n) for n in range(300)]
    with SyncEventProducer(settings) as producer:
        first = producer.send(INFERENCE_OUTCOMES_TOPIC, sent[0])
        rest = producer.send_many(INFERENCE_OUTCOMES_TOPIC, sent[1:])
        producer.flush()
        assert first.result(timeout=0) is None
        assert rest.result(timeout=0) is None
        assert producer.stats.messages_sent < 300
    asyncio.run(assert_all_landed(settings, INFERENCE_OUTCOMES_TOPIC, sent))


# --- outages: a broker of our own on a fixed port -----------------------------------------


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker(free_port())
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture
async def own_settings(own_broker: EmbeddedBroker, unique: str) -> AsyncIterator[Settings]:
    settings = load_settings(
        kafka_bootstrap_servers=own_broker.bootstrap_servers, kafka_topic_prefix=f"out-{unique}."
    )
    await create_topics(settings, TOPICS)
    yield settings


async def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


Sent = list[tuple[dict[str, object], "asyncio.Future[None]"]]


async def keep_sending(producer: EventProducer, sent: Sent) -> None:
    """Send feedback steadily (about 20 per millisecond) until cancelled."""
    n = 0
    while True:
        record = feedback(n)
        sent.append((record, await producer.send(FEEDBACK_TOPIC, record)))
        n += 1
        if n % 20 == 0:
            await asyncio.sleep(0.001)


def acknowledged(sent: Sent) -> set[str]:
    return {str(r["event_id"]) for r, receipt in sent if receipt.done() and not receipt.exception()}


async def test_a_broker_restart_loses_no_accepted_event(
    own_broker: EmbeddedBroker, own_settings: Settings
) -> None:
    config = ProducerConfig(delivery_timeout_s=60, request_timeout_s=2)
    sent: Sent = []
    async with EventProducer(own_settings, config) as producer:
        sender = asyncio.create_task(keep_sending(producer, sent))
        await wait_until(lambda: producer.stats.events_delivered >= 2000, 30, "first deliveries")
        await asyncio.to_thread(own_broker.stop, 0.2)  # SIGKILL after 0.2 s: a crash
        at_stop = len(sent)
        await wait_until(lambda: len(sent) >= at_stop + 2000, 30, "sends during the outage")
        # Restart only once the producer noticed: aiokafka retries a request internally for up
        # to request_timeout_s, and a restarted embedded broker acknowledges and drops writes
        # to topics it no longer has. (Kafka refuses those writes instead.)
        await wait_until(lambda: producer.stats.retries > 0, 30, "the producer to notice")
        # Tansu keeps topics in memory: what the old broker acknowledged died with it.
        lost_with_the_broker = acknowledged(sent)
        await asyncio.to_thread(own_broker.start)
        await create_topics(own_settings, TOPICS)
        restarted_at = len(sent)
        await wait_until(lambda: len(sent) >= restarted_at + 2000, 30, "sends after restart")
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await producer.flush()
        assert producer.stats.retries > 0
        assert producer.stats.events_failed == 0
    expected = {str(r["event_id"]) for r, _ in sent} - lost_with_the_broker
    assert len(expected) >= 4000
    landed = await read_events(own_settings, FEEDBACK_TOPIC, at_least=len(expected))
    missing = expected - {item.event.record["event_id"] for item in landed}
    assert not missing, f"{len(missing)} of {len(expected)} accepted events lost"


async def test_while_the_broker_stays_down_sends_block_then_deliveries_fail(
    own_broker: EmbeddedBroker, own_settings: Settings
) -> None:
    config = ProducerConfig(
        buffer_events=50, send_timeout_s=0.2, delivery_timeout_s=1.0, request_timeout_s=0.5
    )
    producer = EventProducer(own_settings, config)
    await producer.start()
    await producer.send_and_wait(FEEDBACK_TOPIC, feedback(0))
    await asyncio.to_thread(own_broker.stop, 0.2)
    receipts = [await producer.send(FEEDBACK_TOPIC, feedback(n)) for n in range(1, 51)]
    with pytest.raises(ProduceError, match="buffer full: 50 events"):
        await producer.send(FEEDBACK_TOPIC, feedback(51))
    with pytest.raises(ProduceError, match="^50 events not delivered"):
        await producer.flush()
    assert all(isinstance(receipt.exception(), ProduceError) for receipt in receipts)
    assert (producer.stats.events_failed, producer.stats.events_delivered) == (50, 1)
    await producer.close()  # the failures were reported by flush(): nothing left to raise
    with pytest.raises(ProduceError, match="not running"):
        await producer.send(FEEDBACK_TOPIC, feedback(52))


async def test_confirm_topics_refuses_missing_topics_without_creating_them(
    settings: Settings, unique: str
) -> None:
    present = FEEDBACK_TOPIC.name(settings)
    missing = f"test-{unique}.never-created"
    await confirm_topics(settings, [present], timeout_s=5)
    with pytest.raises(UnknownTopicOrPartitionError, match="never-created"):
        await confirm_topics(settings, [present, missing], timeout_s=5)
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        assert missing not in await admin.list_topics()
    finally:
        await admin.close()
