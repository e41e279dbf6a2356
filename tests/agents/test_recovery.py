"""Reading the changelogs' last batches into a recovered table (the broker part is faked)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from tests.support.agents import feedback, feedback_message
from tonebridge.agents.app import Worker
from tonebridge.agents.feedback import tally
from tonebridge.agents.runtime.recovery import read_tails
from tonebridge.decisions.model_feedback import ModelFeedback

CHANGELOG = "app-feedback_stats-changelog"


@dataclass(frozen=True)
class Record:
    key: bytes
    value: bytes | None
    offset: int


class FakeTails:
    def __init__(self, records: dict[TopicPartition, list[Record]]) -> None:
        self.records = records
        self.asked: list[TopicPartition] = []

    async def tails(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, list[Any]]:
        self.asked = sorted(tps)
        return {tp: self.records.get(tp, []) for tp in self.asked}


def state(model_id: str, n: int) -> ModelFeedback:
    records = [feedback(model_id, n=i, rating=4) for i in range(n)]
    result = tally(lambda _: None, [feedback_message(records, 0)], 4, ())
    return result.states[model_id]


async def test_the_last_batch_is_applied_in_offset_order(worker: Worker) -> None:
    table = worker.feedback.table
    await table.put("m-1", state("m-1", 1), 0)
    await table.put("m-2", state("m-2", 1), 0)
    tp = TopicPartition(CHANGELOG, 0)
    tail = [
        Record(b"m-1", state("m-1", 2).to_json(), 10),
        Record(b"m-1", state("m-1", 3).to_json(), 11),  # the newer value of the same key
        Record(b"m-2", None, 12),  # a deletion
        Record(b"\x00source:t.feedback.v1:0", b'{"offset": 41}', 13),
    ]
    reader = FakeTails({tp: tail})
    assert await read_tails(table, reader, [tp, TopicPartition(CHANGELOG, 2)]) == 4
    assert reader.asked == [tp, TopicPartition(CHANGELOG, 2)]
    m1 = table.get("m-1")
    assert m1 is not None and m1.overall.all_time.count == 3
    assert table.get("m-2") is None
    assert table.source_mark("t.feedback.v1:0") == 41
    assert [key for key, _ in table.items()] == ["m-1"]


async def test_no_active_partition_reads_nothing(worker: Worker) -> None:
    reader = FakeTails({})
    assert await read_tails(worker.feedback.table, reader, []) == 0
