"""Which source offsets a table value already contains: exactly-once effect without transactions.

Every stateful value keeps, next to its aggregate, the last offset applied from each source
partition (``"topic:partition" -> offset``). A key's events all come from one partition of
each source topic (topics are keyed, and the agents check it), so a message at or below the
mark has already been folded in: after a crash the replayed messages are skipped, and the
aggregate stays exact whether the table or the consumer offset got further before the crash.
"""

from __future__ import annotations

from collections.abc import Mapping

Marks = Mapping[str, int]


def source_id(topic: str, partition: int) -> str:
    """The mark's key for one source partition."""
    return f"{topic}:{partition}"


def is_applied(marks: Marks, source: str, offset: int) -> bool:
    """Whether the message at ``offset`` of ``source`` is already in the value."""
    return offset <= marks.get(source, -1)


def advance(marks: Marks, source: str, offset: int) -> dict[str, int]:
    """The marks after applying the message at ``offset`` of ``source``."""
    if is_applied(marks, source, offset):
        msg = f"offset {offset} of {source} is already applied"
        raise ValueError(msg)
    return {**marks, source: offset}
