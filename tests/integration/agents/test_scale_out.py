"""Two workers share the partitions; when one dies the other recovers its tables and goes on."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.agents.conftest import Streams, eventually
from tests.support.agents import feedback
from tonebridge.topics.feedback import FEEDBACK_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODELS = [f"model-{i}" for i in range(12)]  # enough keys to land on every partition


def assigned(log: Path, topic: str) -> str | None:
    """The partitions of ``topic`` last assigned to the worker (None before any assignment)."""
    blocks = log.read_text(errors="replace").split("Setting newly assigned partitions")
    if len(blocks) < 2:
        return None
    for line in blocks[-1].splitlines()[:20]:
        if f"| {topic} " in line:
            return line.split("|")[2].strip()
    return ""


def counts(streams: Streams) -> Counter[str]:
    found: Counter[str] = Counter()
    for model_id in streams.feedback.models():
        state = streams.feedback.get(model_id)
        assert state is not None
        found[model_id] = state.overall.all_time.count
    return found


async def produce_rounds(streams: Streams, rounds: int, start: int) -> Counter[str]:
    produced: Counter[str] = Counter()
    for r in range(start, start + rounds):
        records = [feedback(MODELS[i % len(MODELS)], n=r * 1000 + i) for i in range(600)]
        await streams.produce(FEEDBACK_TOPIC, records)
        produced.update(str(record["model_id"]) for record in records)
        await asyncio.sleep(0.1)  # a steady stream, not one burst
    return produced


async def test_two_workers_share_and_one_takes_over_exactly(streams: Streams) -> None:
    topic = FEEDBACK_TOPIC.name(streams.settings)
    first_log, second_log = streams.workdir / "first.log", streams.workdir / "second.log"
    produced = await produce_rounds(streams, 5, 0)
    first = streams.start_worker(name="first")
    await eventually(lambda: sum(counts(streams).values()) > 0, "the first worker at work")

    producing = asyncio.create_task(produce_rounds(streams, 40, 5))
    streams.start_worker(name="second")
    await eventually(
        lambda: bool(assigned(second_log, topic)) and bool(assigned(first_log, topic)),
        "both workers holding feedback partitions",
    )
    shares = (assigned(first_log, topic), assigned(second_log, topic))
    assert "{0-3}" not in shares  # the four partitions are split between the two

    first.send_signal(signal.SIGKILL)
    first.wait(10)
    await eventually(lambda: assigned(second_log, topic) == "{0-3}", "the takeover", 60)
    produced += await producing
    await eventually(
        lambda: counts(streams) == produced,
        lambda: f"every event counted: {produced - counts(streams)} {counts(streams) - produced}",
        120,
    )
    # Nothing beyond: every message is in the marks, and the counts are still exact.
    ends = await streams.ends(FEEDBACK_TOPIC)
    reached = Counter[int]()
    for model_id in streams.feedback.models():
        state = streams.feedback.get(model_id)
        assert state is not None
        for source, offset in state.marks.items():
            partition = int(source.rsplit(":", 1)[1])
            reached[partition] = max(reached[partition], offset + 1)
    assert all(reached[p] >= end for p, end in ends.items() if end)
    assert counts(streams) == produced
