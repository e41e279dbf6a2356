"""Records that could not be processed, kept as data: ``tonebridge.deadletter.v1``.

Keyed by source topic, so one topic's bad records stay together and in order.
"""

from __future__ import annotations

from datetime import datetime

from tonebridge.avro.codec import Record
from tonebridge.topics.spec import TopicSpec, event_header, field

DEAD_LETTER = "DeadLetter"
MAX_REASON_CHARS = 4000

DEADLETTER_TOPIC = TopicSpec("tonebridge.deadletter.v1", (DEAD_LETTER,), field("source_topic"))


def dead_letter(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    payload: bytes,
    error: BaseException,
    *,
    reason: str | None = None,
    event_id: str | None = None,
    event_time: datetime | None = None,
) -> Record:
    """A DeadLetter record for the message at ``topic``/``partition``/``offset``.

    ``reason`` defaults to the error's message; ``event_time`` is when the record was given
    up on (now, by default). Give a replay-stable ``event_id`` where there is one.
    """
    reason = reason or str(error) or repr(error)
    return {
        **event_header(event_id, event_time),
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "error_type": type(error).__name__,
        "reason": reason[:MAX_REASON_CHARS],
        "key": key,
        "payload": payload,
    }
