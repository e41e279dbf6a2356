"""Pack pending events into Kafka messages: one EventBatch per key, within size limits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from tonebridge.avro.codec import encode_batch

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


def pack(events: Iterable[P], max_events: int, max_bytes: int) -> list[Outgoing[P]]:
    """Group ``events`` by topic and key (keeping their order) into messages.

    A group of one event travels as the plain event; more travel as one EventBatch. Each
    message holds at most ``max_events`` events and about ``max_bytes`` bytes.
    """
    groups: dict[tuple[str, bytes], list[P]] = {}
    for event in events:
        groups.setdefault((event.topic, event.key), []).append(event)
    return [
        _message(topic, key, chunk)
        for (topic, key), group in groups.items()
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


def _message(topic: str, key: bytes, chunk: list[P]) -> Outgoing[P]:
    if len(chunk) == 1:
        return Outgoing(topic, key, chunk[0].value, (chunk[0],))
    return Outgoing(topic, key, encode_batch([e.value for e in chunk]), tuple(chunk))
