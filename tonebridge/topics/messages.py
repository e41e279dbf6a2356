"""From a Kafka message to decoded events and rejects, one event at a time (pure).

A message holds one event or an ``EventBatch``. A bad event (undecodable, wrong type,
semantically invalid) is rejected alone with its own bytes; the good ones of the same batch go
on. Only a message whose envelope cannot be read is rejected whole.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tonebridge.avro.codec import Record, decode, split_message
from tonebridge.errors import DecodeError, InvalidEventError, SchemaValidationError, TonebridgeError
from tonebridge.topics.spec import partition_for

# Namespace of dead-letter event ids: a replayed message dead-letters with the same ids.
_NAMESPACE = uuid.UUID("9b3c8d4e-2f61-4a7b-8c90-1d2e3f4a5b6c")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int | None = None  # the record's Kafka timestamp (create or append time)


@dataclass(frozen=True, slots=True)
class Item:
    """One decoded event of a message; ``index`` is its place in the batch (None if alone)."""

    index: int | None
    name: str
    record: Record
    payload: bytes


@dataclass(frozen=True, slots=True)
class Reject:
    """One event (or a whole unreadable message) that goes to the dead-letter topic."""

    index: int | None  # None: the whole message (not an EventBatch, or an unreadable one)
    payload: bytes
    error: TonebridgeError

    def reason(self) -> str:
        where = "message" if self.index is None else f"event {self.index} of the message"
        return f"{where}: {self.error}"

    def dead_letter_id(self, origin: Origin) -> str:
        where = f"{origin.topic}|{origin.partition}|{origin.offset}|{self.index}"
        return str(uuid.uuid5(_NAMESPACE, where))


Message = tuple[Origin, Any]  # a Kafka message: where it came from, its value
Rejected = tuple[Origin, Reject]


@dataclass(frozen=True, slots=True)
class Intake:
    items: list[Item]
    rejects: list[Reject]


def read_message(payload: Any, expect: Sequence[str]) -> Intake:
    """Decode every event of ``payload``; events not of a type in ``expect`` are rejects."""
    if not isinstance(payload, bytes):
        return Intake([], [Reject(None, b"", DecodeError("message has no value"))])
    try:
        parts = split_message(payload)
    except DecodeError as exc:
        return Intake([], [Reject(None, payload, exc)])
    items: list[Item] = []
    rejects: list[Reject] = []
    batched = parts != [payload]
    for index, part in enumerate(parts):
        place = index if batched else None
        try:
            decoded = decode(part)
        except DecodeError as exc:
            rejects.append(Reject(place, part, exc))
            continue
        if decoded.name not in expect:
            error = SchemaValidationError(f"a {decoded.name} does not belong on this topic")
            rejects.append(Reject(place, part, error))
            continue
        items.append(Item(place, decoded.name, decoded.record, part))
    return Intake(items, rejects)


def screen(items: Sequence[Item], check: Callable[[Item], None]) -> tuple[list[Item], list[Reject]]:
    """Split ``items`` by ``check``, which raises InvalidEventError for a bad one."""
    good: list[Item] = []
    bad: list[Reject] = []
    for item in items:
        try:
            check(item)
        except InvalidEventError as exc:
            bad.append(Reject(item.index, item.payload, exc))
        else:
            good.append(item)
    return good, bad


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
