from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from tests.support.samples import sample
from tonebridge.avro.codec import decode, encode, split_message
from tonebridge.client.packing import pack, single
from tonebridge.topics.spec import partition_for


@dataclass(frozen=True)
class Event:
    topic: str
    key: bytes
    value: bytes


def event(topic: str, key: str, n: int, size: int = 0) -> Event:
    record = sample("ModelCommand") | {"event_id": str(n), "reason": "x" * size}
    return Event(topic, key.encode(), encode("ModelCommand", record))


def test_events_are_grouped_by_topic_and_key_in_order() -> None:
    events = [event("a", "k1", 0), event("a", "k2", 1), event("b", "k1", 2), event("a", "k1", 3)]
    messages = pack(events, max_events=10, max_bytes=10_000)
    assert [(m.topic, m.key, m.events) for m in messages] == [
        ("a", b"k1", (events[0], events[3])),
        ("a", b"k2", (events[1],)),
        ("b", b"k1", (events[2],)),
    ]
    assert split_message(messages[0].value) == [events[0].value, events[3].value]


def test_with_partition_counts_every_key_of_a_partition_shares_a_message() -> None:
    keys = [f"k{i}" for i in range(12)]
    events = [event("a", k, n) for n, k in enumerate(keys + keys)] + [event("b", "k0", 99)]
    messages = pack(events, max_events=100, max_bytes=100_000, partitions={"a": 3})
    by_partition = {m.partition: m for m in messages if m.topic == "a"}
    assert len(messages) == len(by_partition) + 1 and set(by_partition) <= {0, 1, 2}
    for partition, message in by_partition.items():
        assert [e.key for e in message.events] == [
            e.key for e in events[:24] if partition_for(e.key, 3) == partition
        ]
        assert message.key == message.events[0].key
        assert partition_for(message.key, 3) == partition
    [other] = [m for m in messages if m.topic == "b"]  # no count known: by key, no partition
    assert (other.partition, other.key) == (None, b"k0")


def test_a_lone_event_travels_plain() -> None:
    lone = event("a", "k", 0)
    [message] = pack([lone], max_events=10, max_bytes=10_000)
    assert message.value == lone.value


def test_batches_respect_the_event_and_byte_limits() -> None:
    many = [event("a", "k", n) for n in range(25)]
    assert [len(m.events) for m in pack(many, max_events=10, max_bytes=10_000)] == [10, 10, 5]
    big = [event("a", "k", n, size=400) for n in range(5)]
    messages = pack(big, max_events=100, max_bytes=1_000)
    assert [len(m.events) for m in messages] == [2, 2, 1]
    assert all(len(m.value) <= 1_000 for m in messages)


def test_an_event_over_the_byte_limit_still_travels_alone() -> None:
    huge = event("a", "k", 0, size=5_000)
    assert [m.events for m in pack([huge], max_events=10, max_bytes=1_000)] == [(huge,)]


@given(
    keys=st.lists(st.sampled_from(["k1", "k2", "k3"]), max_size=60),
    max_events=st.integers(1, 8),
    max_bytes=st.integers(100, 800),
    partitions=st.sampled_from([None, 1, 2, 4]),
)
def test_packing_keeps_every_event_once_in_key_order(
    keys: list[str], max_events: int, max_bytes: int, partitions: int | None
) -> None:
    events = [event("t", k, n) for n, k in enumerate(keys)]
    messages = pack(events, max_events, max_bytes, {"t": partitions} if partitions else None)
    for key in set(keys):
        mine = [e for m in messages for e in m.events if e.key == key.encode()]
        assert mine == [e for e in events if e.key == key.encode()]
    if partitions:
        for m in messages:
            assert {partition_for(e.key, partitions) for e in m.events} == {m.partition}
    for m in messages:
        assert len(m.events) <= max_events
        assert len(m.events) == 1 or len(m.value) <= max_bytes
        unpacked = split_message(m.value)
        assert [decode(v).record for v in unpacked] == [decode(e.value).record for e in m.events]


def test_single_sends_one_message_per_event() -> None:
    events = [event("a", "k", n) for n in range(3)]
    assert [m.events for m in single(events)] == [(e,) for e in events]
