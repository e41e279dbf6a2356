"""Where agents send what they produce: verdicts, commands and dead letters.

Agents publish through the one :class:`~tonebridge.client.publisher.Publisher` interface; in
the worker it is a :class:`FaustOutbox`. Every publish is awaited until the producer holds the
record, before the agent acknowledges the message that caused it; faust flushes the producer
before it commits that offset. Effects are published before the state that records them is
stored, so a crash repeats an effect rather than losing it, and effects carry deterministic
event ids so a repeat is recognisable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tonebridge.client.publisher import Publisher
from tonebridge.settings import Settings
from tonebridge.topics.deadletter import DEADLETTER_TOPIC, dead_letter
from tonebridge.topics.messages import Origin, Reject, Rejected
from tonebridge.topics.spec import TopicSpec

# Told of the records an outbox took, after it took them (the worker's metrics count them).
Sent = Callable[[TopicSpec, Sequence[Mapping[str, Any]]], None]


def dead_letter_record(origin: Origin, reject: Reject) -> dict[str, Any]:
    """The DeadLetter of one reject, with a deterministic id and the event's place."""
    return dead_letter(
        origin.topic, origin.partition, origin.offset, origin.key, reject.payload, reject.error,
        reason=reject.reason(), event_id=reject.dead_letter_id(origin),
    )  # fmt: skip


async def send_dead_letters(outbox: Publisher, rejected: Sequence[Rejected]) -> None:
    letters = [dead_letter_record(origin, reject) for origin, reject in rejected]
    await outbox.publish(DEADLETTER_TOPIC, *letters)


class FaustOutbox:
    """A :class:`Publisher` on the faust app's producer, inside the agent's flow.

    It stays apart from :class:`~tonebridge.client.publisher.ProducerPublisher` on purpose:
    faust flushes its own producer before it commits the source offsets of a batch, so an
    effect is on its topic before the message that caused it counts as read, without waiting
    for the broker on each effect. A second producer would be outside that flush.
    """

    def __init__(self, app: Any, settings: Settings, sent: Sent | None = None) -> None:
        self._app = app
        self._settings = settings
        self._topics: dict[str, Any] = {}
        self._sent = sent

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

    async def publish(
        self, spec: TopicSpec, *records: Mapping[str, Any], schema: str | None = None
    ) -> None:
        """Encode each record (refusing one that does not fit) and hand it to faust."""
        for record in records:
            message = spec.encode(record, schema)
            await self.topic(spec).send(key=message.key, value=message.value)
        if self._sent is not None and records:
            self._sent(spec, records)
