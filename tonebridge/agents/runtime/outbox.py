"""Where agents send what they produce: verdicts, commands and dead letters.

Every send is awaited until the producer holds the record, before the agent acknowledges the
message that caused it; faust flushes the producer before it commits that offset. Effects are
sent before the state that records them is stored, so a crash repeats an effect rather than
losing it, and effects carry deterministic event ids so a repeat is recognisable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from tonebridge.settings import Settings
from tonebridge.topics.deadletter import DEADLETTER_TOPIC, dead_letter
from tonebridge.topics.messages import Origin, Reject, Rejected
from tonebridge.topics.spec import TopicSpec


class Outbox(Protocol):
    async def send(self, spec: TopicSpec, record: Mapping[str, Any]) -> None:
        """Validate, encode and send ``record`` to ``spec``'s topic."""


def dead_letter_record(origin: Origin, reject: Reject) -> dict[str, Any]:
    """The DeadLetter of one reject, with a deterministic id and the event's place."""
    return dead_letter(
        origin.topic, origin.partition, origin.offset, origin.key, reject.payload, reject.error,
        reason=reject.reason(), event_id=reject.dead_letter_id(origin),
    )  # fmt: skip


async def send_dead_letters(outbox: Outbox, rejected: Sequence[Rejected]) -> None:
    for origin, reject in rejected:
        await outbox.send(DEADLETTER_TOPIC, dead_letter_record(origin, reject))


class FaustOutbox:
    """Sends through the faust app's producer (inside the agent's flow)."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self._app = app
        self._settings = settings
        self._topics: dict[str, Any] = {}

    def topic(self, spec: TopicSpec) -> Any:
        """The faust topic of ``spec`` (declared at start with the spec's partitions)."""
        if spec.base not in self._topics:
            self._topics[spec.base] = self._app.topic(
                spec.name(self._settings),
                partitions=spec.partition_count(self._settings),
                key_type=bytes,
                value_type=bytes,
            )
        return self._topics[spec.base]

    async def send(self, spec: TopicSpec, record: Mapping[str, Any]) -> None:
        message = spec.encode(record)
        await self.topic(spec).send(key=message.key, value=message.value)
