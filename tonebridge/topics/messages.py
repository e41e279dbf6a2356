"""What a Kafka message becomes once read: decoded events and rejects, one event at a time.

A message holds one event or an ``EventBatch``. A bad event (undecodable, wrong type,
semantically invalid) is rejected alone with its own bytes; the good ones of the same batch go
on. Only a message whose envelope cannot be read is rejected whole. The reading itself is
:meth:`tonebridge.topics.spec.TopicSpec.read`; this module holds its results (pure).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from tonebridge.avro.codec import Record
from tonebridge.errors import InvalidEventError, TonebridgeError

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


class Item(NamedTuple):
    """One decoded event of a message; ``index`` is its place in the batch (None if alone).

    A tuple (immutable, as a frozen dataclass, at less than half the cost to make: one is made
    per event read); its ``index`` field hides ``tuple.index``, which nothing calls."""

    index: int | None  # type: ignore[assignment]
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
