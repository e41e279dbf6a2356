"""What every topic family declares: :class:`TopicSpec`, how a record becomes a message and
how a message becomes records again.

A topic's spec is the only place that encodes or decodes an event: builders in the family
modules make the records (starting from :func:`event_header`), :meth:`TopicSpec.encode` writes
them, :meth:`TopicSpec.read` (per event, for the agents) and :meth:`TopicSpec.decode` (all or
nothing) read them back; :meth:`TopicSpec.read_millis` reads a batch for the agents' folds, its
event times as epoch milliseconds. (The producer SDK only packs encoded events into an EventBatch.)
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

from aiokafka.partitioner import murmur2

from tonebridge.avro.codec import Decoded, Record, decode, decode_many, encode, split_message
from tonebridge.errors import DecodeError, InvalidEventError, SchemaValidationError
from tonebridge.settings import Settings
from tonebridge.topics.messages import Intake, Item, Origin, Reject

KeyOf = Callable[[Mapping[str, Any]], str | None]
Check = Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Message:
    """One event ready for Kafka: its key, its single-object-encoded value, its event id."""

    key: bytes
    value: bytes
    event_id: str


@dataclass(frozen=True)
class TopicSpec:
    """A topic's base name, the record types it carries, its key and partition count.

    ``partitions`` of ``None`` means ``settings.kafka_topic_partitions``: topics that must be
    co-partitioned (A/B commands and inference outcomes) keep the default together.
    ``check`` returns why a record does not belong on the topic, or ``None``.
    """

    base: str
    schemas: tuple[str, ...]
    key_of: KeyOf
    partitions: int | None = None
    check: Check | None = None

    def name(self, settings: Settings) -> str:
        return settings.topic_name(self.base)

    def partition_count(self, settings: Settings) -> int:
        return self.partitions or settings.kafka_topic_partitions

    def schema_for(self, schema: str | None) -> str:
        """The record type to encode with: the given one, or the topic's only one."""
        if schema is None and len(self.schemas) == 1:
            return self.schemas[0]
        if schema in self.schemas:
            return schema
        msg = f"{self.base} carries {', '.join(self.schemas)}; say which (got {schema!r})"
        raise SchemaValidationError(msg)

    def key(self, record: Mapping[str, Any]) -> bytes:
        """The Kafka key of ``record`` on this topic, as UTF-8 bytes."""
        try:
            value = self.key_of(record)
        except KeyError:
            value = None
        if not value:
            msg = f"{self.base}: record has no value for its key ({self.key_of.__name__})"
            raise SchemaValidationError(msg)
        return value.encode()

    def encode(self, record: Mapping[str, Any], schema: str | None = None) -> Message:
        """Validate and encode ``record``; raise SchemaValidationError if it does not fit."""
        name = self.schema_for(schema)
        value = encode(name, record)
        problem = self.check(record) if self.check else None
        if problem:
            msg = f"{self.base}: {problem}"
            raise SchemaValidationError(msg)
        return Message(self.key(record), value, str(record["event_id"]))

    def read(self, payload: Any) -> Intake:
        """Every event of a message on this topic; a bad or foreign event is a reject alone."""
        return _read(payload, self.schemas)

    def read_millis(self, payload: Any) -> list[Item] | None:
        """The events of an EventBatch of this topic's (one type of) events read at once for
        the folds, each ``timestamp-millis`` field as epoch milliseconds (``decode_many``);
        None for anything else (one event alone, a bad or foreign event): :meth:`read` it.

        The caller judges those milliseconds: a value no datetime holds reads without error
        here, and :meth:`read` rejects it.
        """
        if not isinstance(payload, bytes):
            return None
        try:
            parts = split_message(payload)
        except DecodeError:
            return None
        read = decode_many(parts, millis=True) if len(parts) > 1 else None
        if read is None or read[0].name not in self.schemas:
            return None
        # Item(i, ...) runs NamedTuple's __new__ in Python: tuple.__new__ over zip is C only
        fields = zip(range(len(parts)), repeat(read[0].name), read[1], parts)
        return list(map(tuple.__new__, repeat(Item), fields))

    def decode(self, payload: bytes | None) -> list[Decoded]:
        """Every event of a message on this topic; raise DecodeError if any is bad or foreign."""
        if not isinstance(payload, bytes):
            msg = "message has no value"
            raise DecodeError(msg)
        expect = self.schemas[0] if len(self.schemas) == 1 else None
        events = [decode(part, expect) for part in split_message(payload)]
        for event in events:
            if event.name not in self.schemas:
                raise _foreign(event.name)
        return events


def read_merged(payload: Any, specs: Sequence[TopicSpec]) -> Intake:
    """:meth:`TopicSpec.read` for an agent that reads ``specs``' topics as one stream."""
    return _read(payload, tuple(name for spec in specs for name in spec.schemas))


def _read(payload: Any, expect: Sequence[str]) -> Intake:
    # The agents' hot path: a batch of one event type is read at once (decode_many); else
    # no per-event work beyond the decode and one membership test.
    if not isinstance(payload, bytes):
        return Intake([], [Reject(None, b"", DecodeError("message has no value"))])
    try:
        parts = split_message(payload)
    except DecodeError as exc:
        return Intake([], [Reject(None, payload, exc)])
    batched = parts != [payload]
    if batched and len(parts) > 1:
        read = decode_many(parts)
        if read is not None and read[0].name in expect:
            name, records = read[0].name, read[1]
            return Intake(list(map(Item, range(len(parts)), repeat(name), records, parts)), [])
    items: list[Item] = []
    rejects: list[Reject] = []
    for index, part in enumerate(parts):
        place = index if batched else None
        try:
            decoded = decode(part)
        except DecodeError as exc:
            rejects.append(Reject(place, part, exc))
            continue
        if decoded.name not in expect:
            rejects.append(Reject(place, part, _foreign(decoded.name)))
            continue
        items.append(Item(place, decoded.name, decoded.record, part))
    return Intake(items, rejects)


def _foreign(name: str) -> SchemaValidationError:
    return SchemaValidationError(f"a {name} does not belong on this topic")


def field(name: str) -> KeyOf:
    """A key function reading one field."""

    def key_of(record: Mapping[str, Any]) -> str | None:
        value = record[name]
        return None if value is None else str(value)

    key_of.__name__ = f"key_{name}"
    return key_of


@functools.lru_cache(maxsize=65_536)  # keys repeat (models, tests); murmur2 in Python is slow
def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as the Java client) picks."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


def require_partition(key: str, origin: Origin, partitions: int) -> None:
    """An event must arrive on the partition its own key routes to.

    State is kept per key with one offset mark per source partition; an event that a producer
    put on another key's partition would be counted where no mark protects it.
    """
    if key.startswith("\x00"):
        msg = "an id may not start with a NUL character (reserved for table bookkeeping)"
        raise InvalidEventError(msg)
    if origin.key is not None and origin.key == key.encode():
        return
    expected = partition_for(key.encode(), partitions)
    if expected != origin.partition:
        msg = f"key {key!r} belongs on partition {expected}, came on {origin.partition}"
        raise InvalidEventError(msg)


def event_header(event_id: str | None = None, event_time: datetime | None = None) -> Record:
    """``event_id`` (a new UUID4 by default) and ``event_time`` (now, UTC, by default).

    The time is cut to milliseconds, the precision Avro keeps (``timestamp-millis``), so a
    record reads back equal to what was sent. Every builder of a record starts from here.
    """
    if event_time is not None and event_time.utcoffset() is None:
        msg = "event_time must be timezone-aware (UTC)"
        raise SchemaValidationError(msg)
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_time": to_millis(event_time or datetime.now(UTC)),
    }


def to_millis(when: datetime) -> datetime:
    """``when`` without its sub-millisecond part."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics dict (Avro maps of double take nothing else)."""
    return {
        str(k): float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
