"""The sequencer against a real faust table: replays dropped, holes read, marks kept."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tonebridge.agents.app import Worker
from tonebridge.agents.runtime.consume import in_sequence
from tonebridge.agents.runtime.sequencing import Sequencer
from tonebridge.decisions.model_feedback import ModelFeedback
from tonebridge.errors import InvalidEventError
from tonebridge.topics.messages import Message, Origin
from tonebridge.topics.spec import require_partition

TOPIC = "t.feedback.v1"


def message(offset: int, partition: int = 0) -> Message:
    return (Origin(TOPIC, partition, offset, b"k"), f"v{offset}".encode())


def offsets(batch: Sequence[Message]) -> list[int]:
    return [origin.offset for origin, _ in batch]


class MemoryReader:
    """A partition log in memory; counts what it was asked for."""

    def __init__(self, start: int = 0, end: int = 100) -> None:
        self.start = start
        self.end = end
        self.reads: list[tuple[int, int]] = []

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Message]:
        self.reads.append((start, end))
        first = max(start, self.start)
        return [message(o, partition) for o in range(first, min(end, self.end))]

    async def log_start(self, topic: str, partition: int) -> int:
        return self.start

    async def reported_end(self, topic: str, partition: int) -> int:
        return self.end

    async def read_from(self, topic: str, partition: int, start: int, limit: int) -> list[Message]:
        return (await self.read(topic, partition, start, self.end))[:limit]


async def test_a_first_batch_starts_at_the_log_start(worker: Worker) -> None:
    reader = MemoryReader(start=2)
    sequencer = Sequencer(worker.feedback.table, reader)
    arranged, last = await sequencer.arrange([message(4), message(5)])
    assert offsets(arranged) == [2, 3, 4, 5]
    assert reader.reads == [(2, 4)]
    assert last == {(TOPIC, 0): 5}


async def test_replays_are_dropped_and_holes_read(worker: Worker) -> None:
    reader = MemoryReader()
    sequencer = Sequencer(worker.feedback.table, reader)
    await sequencer.record({(TOPIC, 0): 4, (TOPIC, 1): 10})
    batch = [message(2), message(4), message(5), message(8), message(11, 1), message(9)]
    arranged, last = await sequencer.arrange(batch)
    assert offsets(arranged) == [5, 6, 7, 8, 11, 9]
    assert reader.reads == [(6, 8)]
    assert last == {(TOPIC, 0): 9, (TOPIC, 1): 11}


async def test_a_rewind_inside_a_batch_is_applied_once(worker: Worker) -> None:
    sequencer = Sequencer(worker.feedback.table, MemoryReader())
    await sequencer.record({(TOPIC, 0): 4})
    arranged, _ = await sequencer.arrange([message(o) for o in (5, 6, 5, 6, 7)])
    assert offsets(arranged) == [5, 6, 7]


async def test_the_handler_sees_each_offset_once_across_batches(worker: Worker) -> None:
    seen: list[int] = []

    async def handle(batch: Sequence[Message]) -> None:
        seen.extend(offsets(batch))

    handler = in_sequence(handle, Sequencer(worker.feedback.table, MemoryReader()))
    await handler([message(o) for o in (0, 1, 2)])
    await handler([message(o) for o in (1, 2, 5)])  # a replay, then a hole
    await handler([message(o) for o in (3, 4)])  # late duplicates of what was read
    await handler([message(6)])
    assert seen == [0, 1, 2, 3, 4, 5, 6]
    assert worker.feedback.table.source_mark(f"{TOPIC}:0") == 6


async def test_source_marks_are_not_table_values(worker: Worker) -> None:
    table = worker.feedback.table
    await table.put("model-a", ModelFeedback(), table.partition_of("model-a"))
    await table.put_source_mark(f"{TOPIC}:0", 41, 0)
    assert [key for key, _ in table.items()] == ["model-a"]
    assert table.source_mark(f"{TOPIC}:0") == 41
    assert table.source_mark(f"{TOPIC}:1") is None


def test_an_id_may_not_take_the_reserved_prefix() -> None:
    with pytest.raises(InvalidEventError, match="NUL"):
        require_partition("\x00source:x", Origin(TOPIC, 0, 0, None), 4)


async def test_a_quiet_partition_hands_over_what_was_never_delivered(worker: Worker) -> None:
    """faust can drop a partition's tail for good; with no later message, only the sweep
    finds it. What was delivered meanwhile is not handed over twice."""
    seen: list[int] = []

    async def handle(batch: Sequence[Message]) -> None:
        seen.extend(offsets(batch))

    handler = in_sequence(handle, Sequencer(worker.feedback.table, MemoryReader(end=8)))
    await handler([message(o) for o in (0, 1, 2)])
    await handler.sweep([(TOPIC, 0)])  # 3-7 never came
    await handler.sweep([(TOPIC, 0)])  # nothing more
    await handler([message(o) for o in (3, 4)])  # delivered late after all: replays
    assert seen == [0, 1, 2, 3, 4, 5, 6, 7]
    assert worker.feedback.table.source_mark(f"{TOPIC}:0") == 7


async def test_a_sweep_takes_at_most_its_limit_per_partition(worker: Worker) -> None:
    seen: list[int] = []

    async def handle(batch: Sequence[Message]) -> None:
        seen.extend(offsets(batch))

    handler = in_sequence(handle, Sequencer(worker.feedback.table, MemoryReader(end=8)))
    await handler.sweep([(TOPIC, 0)], limit=3)
    assert seen == [0, 1, 2]
    await handler.sweep([(TOPIC, 0)], limit=3)
    await handler.sweep([(TOPIC, 0)], limit=3)
    await handler.sweep([(TOPIC, 0)], limit=3)  # nothing more
    await handler([message(o) for o in (3, 4)])  # delivered late after all: replays
    assert seen == [0, 1, 2, 3, 4, 5, 6, 7]
    assert worker.feedback.table.source_mark(f"{TOPIC}:0") == 7


async def test_a_sweep_of_an_empty_partition_reads_nothing(worker: Worker) -> None:
    reader = MemoryReader(end=0)
    arranged, last = await Sequencer(worker.feedback.table, reader).overdue([(TOPIC, 0)], 10)
    assert (arranged, last, reader.reads) == ([], {}, [])
