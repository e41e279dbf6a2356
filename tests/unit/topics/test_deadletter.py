from __future__ import annotations

from datetime import UTC, datetime

from tonebridge.avro.codec import decode
from tonebridge.errors import DecodeError
from tonebridge.topics.deadletter import (
    DEAD_LETTER,
    DEADLETTER_TOPIC,
    MAX_REASON_CHARS,
    dead_letter,
)


def test_dead_letter_keeps_where_the_record_came_from_and_why() -> None:
    error = DecodeError("payload too short")
    record = dead_letter("tonebridge.feedback.v1", 3, 41, b"k", b"\x01", error)
    assert record["source_topic"] == "tonebridge.feedback.v1"
    assert (record["source_partition"], record["source_offset"]) == (3, 41)
    assert (record["key"], record["payload"]) == (b"k", b"\x01")
    assert (record["error_type"], record["reason"]) == ("DecodeError", "payload too short")
    assert record["event_time"].tzinfo is UTC


def test_dead_letters_are_keyed_by_source_topic_and_round_trip() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    record = dead_letter("t", 0, 0, None, b"", ValueError(), event_time=at)
    assert record["reason"] == "ValueError()"
    message = DEADLETTER_TOPIC.encode(record)
    assert message.key == b"t"
    assert decode(message.value, expect=DEAD_LETTER).record == record


def test_a_long_reason_is_cut() -> None:
    record = dead_letter("t", 0, 0, None, b"", ValueError("x" * 10_000))
    assert len(record["reason"]) == MAX_REASON_CHARS
