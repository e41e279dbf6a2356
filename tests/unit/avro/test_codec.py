"""Round trips for every schema, and every way a payload can be wrong raising DecodeError."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.avro_strategies import records
from tests.support.samples import sample
from tonebridge.avro.codec import (
    _SEAL,
    BATCH,
    HEADER_LEN,
    MAGIC,
    REGISTRY,
    _fastavro_reader,
    _millis_reader,
    _varint,
    decode,
    decode_many,
    encode,
    encode_batch,
    split_message,
)
from tonebridge.errors import DecodeError, SchemaValidationError, UnknownSchemaError

NAMES = sorted(REGISTRY.by_name)
EVENTS = [name for name in NAMES if name != BATCH]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_schema_round_trips(name: str, data: st.DataObject) -> None:
    record = data.draw(records(REGISTRY.latest(name).parsed))
    decoded = decode(encode(name, record))
    assert decoded.name == name
    assert decoded.writer_version == max(REGISTRY.by_name[name])
    assert decoded.record == record


@st.composite
def encoded_events(draw: st.DrawFn) -> tuple[list[str], list[Any], list[bytes]]:
    names = draw(st.lists(st.sampled_from(EVENTS), min_size=1, max_size=6))
    values = [draw(records(REGISTRY.latest(n).parsed)) for n in names]
    return names, values, [encode(n, v) for n, v in zip(names, values, strict=True)]


@settings(max_examples=40, deadline=None)
@given(events=encoded_events())
def test_a_batch_of_mixed_events_round_trips(
    events: tuple[list[str], list[Any], list[bytes]],
) -> None:
    names, values, encoded = events
    message = encode_batch(encoded)
    assert split_message(message) == encoded
    decoded = [decode(event) for event in split_message(message)]
    assert [d.name for d in decoded] == names
    assert [d.record for d in decoded] == values


def test_a_single_event_message_is_its_own_batch() -> None:
    payload = encode("FeedbackEvent", sample("FeedbackEvent"))
    assert split_message(payload) == [payload]
    assert decode(payload).record == sample("FeedbackEvent")


@settings(max_examples=200)
@given(garbage=st.binary(max_size=200))
def test_garbage_raises_decode_error(garbage: bytes) -> None:
    with pytest.raises(DecodeError):
        [decode(event) for event in split_message(garbage)]


@pytest.mark.parametrize("name", NAMES)
def test_every_truncation_raises_decode_error(name: str) -> None:
    payload = encode(name, sample(name))
    for length in range(len(payload)):
        with pytest.raises(DecodeError):
            decode(payload[:length])


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_truncated_random_events_raise_decode_error(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(EVENTS))
    payload = encode(name, data.draw(records(REGISTRY.latest(name).parsed)))
    length = data.draw(st.integers(0, len(payload) - 1))
    with pytest.raises(DecodeError):
        decode(payload[:length])


def test_unknown_fingerprint_raises_unknown_schema_error() -> None:
    payload = encode("FeedbackEvent", sample("FeedbackEvent"))
    forged = MAGIC + bytes(8) + payload[HEADER_LEN:]
    with pytest.raises(UnknownSchemaError, match="unknown writer schema"):
        decode(forged)


def test_wrong_marker_raises_decode_error() -> None:
    payload = encode("FeedbackEvent", sample("FeedbackEvent"))
    with pytest.raises(DecodeError, match="marker"):
        decode(b"\x00\x01" + payload[2:])


@pytest.mark.parametrize("extra", [b"\x00", b"trailing bytes"])
def test_trailing_bytes_raise_decode_error(extra: bytes) -> None:
    payload = encode("ModelCommand", sample("ModelCommand"))
    with pytest.raises(DecodeError, match="trailing"):
        decode(payload + extra)


def test_wrong_expected_type_raises_schema_validation_error() -> None:
    payload = encode("FeedbackEvent", sample("FeedbackEvent"))
    with pytest.raises(SchemaValidationError, match="expected a InferenceOutcome"):
        decode(payload, expect="InferenceOutcome")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"model_id": None}, "model_id"),
        ({"rating": "5"}, "rating"),
        ({"rating": 2**40}, "rating"),
        ({"metadata": {"a": 1}}, "metadata"),
        ({"input_text": b"bytes"}, "input_text"),
        ({"event_time": "yesterday"}, "event_time"),
    ],
)
def test_a_record_that_does_not_fit_raises_on_encode(change: dict[str, Any], why: str) -> None:
    record = sample("FeedbackEvent") | change
    with pytest.raises(SchemaValidationError, match=why):
        encode("FeedbackEvent", record)


def test_a_missing_required_field_raises_on_encode() -> None:
    record = sample("FeedbackEvent")
    del record["user_id"]
    with pytest.raises(SchemaValidationError, match="user_id"):
        encode("FeedbackEvent", record)


def test_an_unknown_schema_name_raises_on_encode() -> None:
    with pytest.raises(UnknownSchemaError):
        encode("NoSuchEvent", {})


@pytest.mark.parametrize("name", EVENTS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_decode_many_reads_what_decode_reads(name: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(records(REGISTRY.latest(name).parsed), min_size=1, max_size=5))
    payloads = [encode(name, value) for value in values]
    read = decode_many(payloads)
    assert read is not None
    assert read[0] is REGISTRY.latest(name)
    assert read[1] == [decode(payload).record for payload in payloads]


def _feedback_payloads(n: int = 3) -> list[bytes]:
    return [encode("FeedbackEvent", sample("FeedbackEvent", i)) for i in range(n)]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda p: p[:-1],  # truncated
        lambda p: p + b"\x00",  # a trailing byte
        lambda p: p + _feedback_payloads(1)[0][HEADER_LEN:],  # another event's body after it
        lambda p: p[:HEADER_LEN] + b"\xff" * (len(p) - HEADER_LEN),  # corrupt
        lambda p: MAGIC + bytes(8) + p[HEADER_LEN:],  # unknown schema
        lambda p: encode("InferenceOutcome", sample("InferenceOutcome")),  # another type
    ],
)
def test_decode_many_gives_up_on_any_bad_or_foreign_event(spoil: Any) -> None:
    payloads = _feedback_payloads()
    for place in range(len(payloads)):
        spoilt = [*payloads[:place], spoil(payloads[place]), *payloads[place + 1 :]]
        assert decode_many(spoilt) is None


def test_decode_many_gives_up_on_an_older_writer_and_on_nothing() -> None:
    name = next(n for n in EVENTS if len(REGISTRY.by_name[n]) > 1)
    old = min(REGISTRY.by_name[name])
    assert decode_many([encode(name, sample(name), version=old)]) is None
    assert decode_many([]) is None


@pytest.mark.parametrize("name", ["FeedbackEvent", "InferenceOutcome"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_decode_many_in_millis_reads_event_times_as_epoch_ms(
    name: str, data: st.DataObject
) -> None:
    values = data.draw(st.lists(records(REGISTRY.latest(name).parsed), min_size=1, max_size=5))
    payloads = [encode(name, value) for value in values]
    read = decode_many(payloads, millis=True)
    assert read is not None
    full = [decode(payload).record for payload in payloads]
    epoch, ms = datetime(1970, 1, 1, tzinfo=UTC), timedelta(milliseconds=1)
    assert read[1] == [r | {"event_time": (r["event_time"] - epoch) // ms} for r in full]
    assert all(type(r["event_time"]) is int for r in read[1])


def test_decode_many_in_millis_reads_a_time_no_datetime_holds() -> None:
    """The caller must judge it: decode() and the full batch read reject it."""
    payloads = _feedback_payloads()
    payloads[1] = encode("FeedbackEvent", sample("FeedbackEvent", 1) | {"event_time": 2**62})
    read = decode_many(payloads, millis=True)
    assert read is not None and read[1][1]["event_time"] == 2**62
    assert decode_many(payloads) is None
    with pytest.raises(DecodeError):
        decode(payloads[1])


# The agents' reads (millis) go through cavro: they must give fastavro's records, or nothing.


def _fastavro_millis(payloads: list[bytes]) -> list[dict[str, Any]] | None:
    """The oracle: the same sealed batch read by fastavro (as before cavro)."""
    fingerprint = payloads[0][2:HEADER_LEN]
    data = b"".join((_varint(len(payloads)), _SEAL.join(p[HEADER_LEN:] for p in payloads)))
    try:
        records = _fastavro_reader(fingerprint, millis=True)(data + _SEAL + b"\x00")
    except Exception:  # noqa: BLE001 - any refusal
        return None
    seals = [record.pop("__tonebridge_seal") for record in records]
    return records if seals.count(_SEAL) == len(payloads) else None


def _spoilt(payload: bytes, changes: list[tuple[int, int, int]]) -> bytes:
    """``payload`` with its body changed: (kind, place, byte) replace, insert, delete, cut."""
    body = bytearray(payload[HEADER_LEN:])
    for kind, place, byte in changes:
        if not body:
            break
        at = place % len(body)
        if kind == 0:
            body[at] = byte
        elif kind == 1:
            body.insert(at, byte)
        elif kind == 2:
            del body[at]
        else:
            del body[at:]
    return payload[:HEADER_LEN] + bytes(body)


@pytest.mark.parametrize("name", ["FeedbackEvent", "InferenceOutcome"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_millis_read_of_spoilt_bodies_is_fastavros_or_nothing(
    name: str, data: st.DataObject
) -> None:
    values = data.draw(st.lists(records(REGISTRY.latest(name).parsed), min_size=1, max_size=4))
    payloads = [encode(name, value) for value in values]
    place = data.draw(st.integers(0, len(payloads) - 1))
    change = st.tuples(st.integers(0, 3), st.integers(0, 10_000), st.integers(0, 255))
    payloads[place] = _spoilt(payloads[place], data.draw(st.lists(change, min_size=1, max_size=3)))
    read = decode_many(payloads, millis=True)
    if read is not None:  # cavro may refuse what fastavro takes; never the other way round
        assert repr(read[1]) == repr(_fastavro_millis(payloads))  # repr: a spoilt double is NaN


def _feedback_with(**fields: bytes) -> bytes:
    """A FeedbackEvent whose body is written by hand (field values as Avro bytes)."""

    def text(value: bytes) -> bytes:
        return _zigzag(len(value)) + value

    parts = {
        "event_id": text(b"e-1"), "event_time": _zigzag(1_700_000_000_000), "user_id": text(b"u"),
        "session_id": b"\x00", "model_id": text(b"m"), "input_text": text(b"in"),
        "output_text": text(b"out"), "corrected_text": b"\x00",
        "transformation_type": text(b"formal"), "rating": b"\x02" + _zigzag(3),
        "feedback_type": text(b"rating"), "metadata": b"\x00",
    } | fields  # fmt: skip
    return REGISTRY.latest("FeedbackEvent").header + b"".join(parts.values())


def _zigzag(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes([*out, value])


@pytest.mark.parametrize("rating", [2**32 + 3, 2**40, -(2**31) - 1, 2**31])
def test_the_millis_read_keeps_an_int_past_32_bits_whole(rating: int) -> None:
    """cavro keeps an int's low 32 bits (2**32 + 3 would read as a rating of 3): ints are read
    as longs, so the rating a producer wrote is the one the rules judge."""
    payloads = [_feedback_with(rating=b"\x02" + _zigzag(rating)), _feedback_with()]
    read = decode_many(payloads, millis=True)
    assert read is not None
    assert [r["rating"] for r in read[1]] == [rating, 3]
    assert read[1] == _fastavro_millis(payloads)


def test_what_cavro_refuses_is_read_by_fastavro_as_before() -> None:
    """A map written in a block with a byte size (a negative count): cavro refuses it, so the
    agents' read gives up and the message is read in full, its events all good."""
    sized_map = _zigzag(-1) + _zigzag(6) + _zigzag(1) + b"k" + _zigzag(1) + b"v" + b"\x00"
    payloads = [_feedback_with(metadata=sized_map), _feedback_with()]
    assert decode_many(payloads, millis=True) is None
    assert _fastavro_millis(payloads) is not None
    read = decode_many(payloads)
    assert read is not None and read[1][0]["metadata"] == {"k": "v"}


def test_without_cavro_the_millis_read_is_fastavros(monkeypatch: pytest.MonkeyPatch) -> None:
    payloads = [encode("FeedbackEvent", sample("FeedbackEvent", i)) for i in range(3)]
    fingerprint = payloads[0][2:HEADER_LEN]
    assert type(_millis_reader(fingerprint).__self__).__module__ == "cavro"  # a Schema's method
    with_cavro = decode_many(payloads, millis=True)
    monkeypatch.setitem(sys.modules, "cavro", None)  # import cavro raises ImportError
    _millis_reader.cache_clear()
    try:
        assert not hasattr(_millis_reader(fingerprint), "__self__")  # fastavro's closure
        assert decode_many(payloads, millis=True) == with_cavro
    finally:
        _millis_reader.cache_clear()
