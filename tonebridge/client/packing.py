"""Pack pending events into Kafka messages: one EventBatch per partition, within size limits.

Events of every key that routes to the same partition (Kafka's default partitioner) share a
message, so a steady stream over many keys still travels as a few messages per linger. The
message goes to that partition explicitly, keyed with its first event's key; consumers read
each event's own key from the event (the agents check every event's partition).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from tonebridge.avro.codec import encode_batch
from tonebridge.topics.spec import partition_for

# EventBatch overhead per item: a length varint (at most 5 bytes for <2 GiB) + array framing.
ITEM_OVERHEAD = 6
BATCH_OVERHEAD = 32


class Packable(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes: ...
    @property
    def value(self) -> bytes: ...


P = TypeVar("P", bound=Packable)


@dataclass(frozen=True)
class Outgoing(Generic[P]):
    """One Kafka message and the events it carries."""

    topic: str
    key: bytes
    value: bytes
    events: tuple[P, ...]
    partition: int | None = None  # None: the producer's partitioner picks it from the key


def pack(
    events: Iterable[P],
    max_events: int,
    max_bytes: int,
    partitions: Mapping[str, int] | None = None,
) -> list[Outgoing[P]]:
    """Group ``events`` by topic and partition (keeping their order) into messages.

    ``partitions`` gives each topic's partition count; a topic without one is grouped by key
    instead (and its messages leave the partition to the producer). A group of one event
    travels as the plain event; more travel as one EventBatch. Each message holds at most
    ``max_events`` events and about ``max_bytes`` bytes.
    """
    counts = partitions or {}
    groups: dict[tuple[str, int | bytes], list[P]] = {}
    for event in events:
        count = counts.get(event.topic)
        where = event.key if count is None else partition_for(event.key, count)
        groups.setdefault((event.topic, where), []).append(event)
    return [
        _message(topic, where if isinstance(where, int) else None, chunk)
        for (topic, where), group in groups.items()
        for chunk in _chunks(group, max_events, max_bytes)
    ]


def single(events: Iterable[P]) -> list[Outgoing[P]]:
    """One message per event (``pack=False``)."""
    return [Outgoing(e.topic, e.key, e.value, (e,)) for e in events]


def _chunks(group: Sequence[P], max_events: int, max_bytes: int) -> Iterable[list[P]]:
    chunk: list[P] = []
    size = BATCH_OVERHEAD
    for event in group:
        grown = size + len(event.value) + ITEM_OVERHEAD
        if chunk and (len(chunk) >= max_events or grown > max_bytes):
            yield chunk
            chunk, grown = [], BATCH_OVERHEAD + len(event.value) + ITEM_OVERHEAD
        chunk.append(event)
        size = grown
    if chunk:
        yield chunk


def _message(topic: str, partition: int | None, chunk: list[P]) -> Outgoing[P]:
    key = chunk[0].key
    if len(chunk) == 1:
        return Outgoing(topic, key, chunk[0].value, (chunk[0],), partition)
    return Outgoing(topic, key, encode_batch([e.value for e in chunk]), tuple(chunk), partition)
