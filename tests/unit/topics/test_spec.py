from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from aiokafka.partitioner import DefaultPartitioner

from tests.support.agents import feedback, message, outcome
from tests.support.samples import sample
from tonebridge.avro.codec import decode, encode_batch
from tonebridge.errors import DecodeError, InvalidEventError, SchemaValidationError
from tonebridge.settings import load_settings
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.messages import Origin
from tonebridge.topics.models import MODEL_CHANGED, MODEL_EVENTS_TOPIC, MODEL_REGISTERED
from tonebridge.topics.spec import (
    TopicSpec,
    event_header,
    field,
    numeric_metrics,
    partition_for,
    read_merged,
    require_partition,
)


def test_names_carry_the_prefix_and_partitions_default_from_settings() -> None:
    spec = TopicSpec("tonebridge.x.v1", ("FeedbackEvent",), field("model_id"))
    fixed = TopicSpec("tonebridge.y.v1", ("FeedbackEvent",), field("model_id"), partitions=1)
    settings = load_settings(kafka_topic_prefix="test-abc.", kafka_topic_partitions=6)
    assert spec.name(settings) == "test-abc.tonebridge.x.v1"
    assert spec.partition_count(settings) == 6
    assert fixed.partition_count(settings) == 1


def test_encode_gives_key_value_and_event_id() -> None:
    record = sample("ModelChanged")
    message = MODEL_EVENTS_TOPIC.encode(record, MODEL_CHANGED)
    assert message.key == b"tone-formal"
    assert message.event_id == record["event_id"]
    assert decode(message.value, expect=MODEL_CHANGED).record == record


def test_a_topic_with_two_record_types_needs_to_be_told_which() -> None:
    with pytest.raises(SchemaValidationError, match="say which"):
        MODEL_EVENTS_TOPIC.encode(sample("ModelRegistered"))
    with pytest.raises(SchemaValidationError, match="say which"):
        MODEL_EVENTS_TOPIC.encode(sample("FeedbackEvent"), "FeedbackEvent")
    assert MODEL_EVENTS_TOPIC.encode(sample(MODEL_REGISTERED), MODEL_REGISTERED).key


def test_a_record_without_its_key_is_refused() -> None:
    spec = TopicSpec("tonebridge.x.v1", ("FeedbackEvent",), field("session_id"))
    with pytest.raises(SchemaValidationError, match="no value for its key"):
        spec.encode(sample("FeedbackEvent") | {"session_id": None})
    with pytest.raises(SchemaValidationError, match="no value for its key"):
        spec.encode(sample("FeedbackEvent") | {"session_id": ""})


def test_a_record_that_does_not_fit_is_refused() -> None:
    spec = TopicSpec("tonebridge.x.v1", ("FeedbackEvent",), field("model_id"))
    with pytest.raises(SchemaValidationError, match="rating"):
        spec.encode(sample("FeedbackEvent") | {"rating": "five"})


@pytest.mark.parametrize("key", [b"tone-formal-1", b"ab-0", b"", "é🙂".encode()])
@pytest.mark.parametrize("partitions", [1, 4, 7])
def test_partition_for_matches_the_producers_partitioner(key: bytes, partitions: int) -> None:
    expected = DefaultPartitioner()(key, list(range(partitions)), [])
    assert partition_for(key, partitions) == expected


def test_event_header_fills_a_uuid_and_now_in_utc() -> None:
    before = datetime.now(UTC)
    header = event_header()
    assert len(header["event_id"]) == 36
    assert header["event_id"] != event_header()["event_id"]
    assert before - timedelta(milliseconds=1) <= header["event_time"] <= datetime.now(UTC)
    assert header["event_time"].tzinfo is UTC
    assert header["event_time"].microsecond % 1000 == 0


def test_event_header_keeps_given_values_and_refuses_naive_times() -> None:
    at = datetime(2025, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=2)))
    assert event_header("id-1", at) == {"event_id": "id-1", "event_time": at}
    with pytest.raises(SchemaValidationError, match="timezone-aware"):
        event_header(None, datetime(2025, 1, 2))  # noqa: DTZ001 - the point of the test


def test_event_header_cuts_a_given_time_to_milliseconds() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    assert event_header("id-1", at)["event_time"] == at.replace(microsecond=678_000)


def test_only_finite_numbers_reach_a_metrics_map() -> None:
    metrics = {"a": 1, "b": 2.5, "c": float("nan"), "d": "x", "e": True, "f": float("inf")}
    assert numeric_metrics(metrics) == {"a": 1.0, "b": 2.5}


def test_a_batch_with_one_bad_event_rejects_only_that_event() -> None:
    good = [FEEDBACK_TOPIC.encode(feedback(n=n)).value for n in range(3)]
    payload = encode_batch([good[0], b"\xc3\x01garbage!!", good[1], good[2]])
    intake = FEEDBACK_TOPIC.read(payload)
    assert [item.index for item in intake.items] == [0, 2, 3]
    assert [r.index for r in intake.rejects] == [1]
    assert isinstance(intake.rejects[0].error, DecodeError)
    assert intake.rejects[0].payload == b"\xc3\x01garbage!!"
    assert "event 1 of the message" in intake.rejects[0].reason()


def test_a_batch_of_good_events_reads_each_with_its_place_and_bytes() -> None:
    records = [feedback(n=n) for n in range(3)]
    events = [FEEDBACK_TOPIC.encode(r).value for r in records]
    intake = FEEDBACK_TOPIC.read(encode_batch(events))
    assert not intake.rejects
    assert [(i.index, i.name, i.payload) for i in intake.items] == [
        (n, "FeedbackEvent", events[n]) for n in range(3)
    ]
    assert [i.record for i in intake.items] == [decode(e).record for e in events]


def test_an_event_of_another_type_is_rejected() -> None:
    _, value = message(INFERENCE_OUTCOMES_TOPIC, [outcome()], 0)
    intake = FEEDBACK_TOPIC.read(value)
    assert not intake.items
    assert isinstance(intake.rejects[0].error, SchemaValidationError)


@pytest.mark.parametrize("payload", [b"not avro at all", None, b""])
def test_an_unreadable_message_is_rejected_whole(payload: bytes | None) -> None:
    intake = FEEDBACK_TOPIC.read(payload)
    assert not intake.items
    assert [r.index for r in intake.rejects] == [None]
    assert intake.rejects[0].reason().startswith("message:")


def test_merged_topics_take_the_events_of_each() -> None:
    _, outcomes = message(INFERENCE_OUTCOMES_TOPIC, [outcome(), outcome()], 0)
    _, feedbacks = message(FEEDBACK_TOPIC, [feedback(), feedback(n=1)], 0)
    merged = (ABTEST_COMMANDS_TOPIC, INFERENCE_OUTCOMES_TOPIC)
    assert [i.name for i in read_merged(outcomes, merged).items] == ["InferenceOutcome"] * 2
    assert [r.index for r in read_merged(feedbacks, merged).rejects] == [0, 1]


def test_decode_gives_every_event_of_a_message() -> None:
    records = [feedback(n=n) for n in range(3)]
    payload = encode_batch([FEEDBACK_TOPIC.encode(r).value for r in records])
    assert [d.record for d in FEEDBACK_TOPIC.decode(payload)] == records
    single = FEEDBACK_TOPIC.encode(records[0]).value
    assert [d.record for d in FEEDBACK_TOPIC.decode(single)] == records[:1]


def test_decode_is_all_or_nothing() -> None:
    good = FEEDBACK_TOPIC.encode(feedback()).value
    with pytest.raises(DecodeError):
        FEEDBACK_TOPIC.decode(encode_batch([good, good[:-3]]))
    with pytest.raises(DecodeError, match="no value"):
        FEEDBACK_TOPIC.decode(None)
    with pytest.raises(SchemaValidationError, match="expected a InferenceOutcome"):
        INFERENCE_OUTCOMES_TOPIC.decode(encode_batch([good]))
    changed = MODEL_EVENTS_TOPIC.encode(sample(MODEL_CHANGED), MODEL_CHANGED).value
    with pytest.raises(SchemaValidationError, match="does not belong"):
        MODEL_EVENTS_TOPIC.decode(encode_batch([changed, good]))


def test_an_event_must_arrive_on_its_keys_partition() -> None:
    partition = partition_for(b"model-x", 4)
    require_partition("model-x", Origin("t", partition, 0, b"other-key"), 4)
    with pytest.raises(InvalidEventError, match="belongs on partition"):
        require_partition("model-x", Origin("t", (partition + 1) % 4, 0, b"other-key"), 4)
