"""What every topic family declares: :class:`TopicSpec`, and how a record becomes a message."""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.partitioner import murmur2

from tonebridge.avro.codec import Record, encode
from tonebridge.errors import SchemaValidationError
from tonebridge.settings import Settings

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
