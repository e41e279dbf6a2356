"""Aggregates stay exact when the worker is SIGKILLed mid-stream and restarted."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Mapping

import pytest
from sqlalchemy import text

from tests.integration.agents.conftest import Streams, eventually
from tests.support.agents import create_test, feedback, outcome
from tonebridge.storage.db import Database
from tonebridge.storage.models import ModelRepository
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODELS = [f"model-{i}" for i in range(6)]
N_FEEDBACK, N_OUTCOMES = 30_000, 12_000


def feedback_counts(streams: Streams) -> Counter[str]:
    counts: Counter[str] = Counter()
    for model_id in streams.feedback.models():
        state = streams.feedback.get(model_id)
        assert state is not None
        counts[model_id] = state.overall.all_time.count
    return counts


def arm_counts(streams: Streams) -> Counter[str]:
    counts: Counter[str] = Counter()
    for test_id in streams.tests.tests():
        state = streams.tests.get(test_id)
        assert state is not None
        for arm, stats in state.stats.arms.items():
            counts[f"{test_id}/{arm}"] = stats.assigned
    return counts


def applied(states: dict[str, Mapping[str, int]], topic: str, ends: dict[int, int]) -> bool:
    """Every partition's last offset of ``topic`` is in the marks of some value."""
    reached = Counter[int]()
    for marks in states.values():
        for source, offset in marks.items():
            name, partition = source.rsplit(":", 1)
            if name == topic:
                reached[int(partition)] = max(reached[int(partition)], offset + 1)
    return all(reached[p] >= end for p, end in ends.items() if end)


def feedback_marks(streams: Streams) -> dict[str, Mapping[str, int]]:
    states = {m: streams.feedback.get(m) for m in streams.feedback.models()}
    return {m: s.marks for m, s in states.items() if s is not None}


def ab_marks(streams: Streams) -> dict[str, Mapping[str, int]]:
    states = {t: streams.tests.get(t) for t in streams.tests.tests()}
    return {t: s.marks for t, s in states.items() if s is not None}


async def produce_slowly(streams: Streams) -> Counter[str]:
    """The feedback in 30 rounds, so the worker is killed while events still arrive."""
    rounds = 30
    per_round = N_FEEDBACK // rounds
    produced: Counter[str] = Counter()
    for r in range(rounds):
        records = [
            feedback(MODELS[i % len(MODELS)], n=r * per_round + i, rating=1 + i % 5)
            for i in range(per_round)
        ]
        await streams.produce(FEEDBACK_TOPIC, records)
        produced.update(str(record["model_id"]) for record in records)
        await asyncio.sleep(0.1)  # pace the producer: the stream must outlive the kill
    return produced


async def test_counts_are_exact_after_a_sigkill_mid_stream(
    streams: Streams, database: Database
) -> None:
    for model_id in MODELS:
        await ModelRepository(database).ensure_base(model_id, "t5-small", model_id=model_id)
    await streams.produce(ABTEST_COMMANDS_TOPIC, [create_test("aa-1", min_samples=10**9)])
    outcomes = [outcome("aa-1", ("control", "treatment")[i % 2], n=i) for i in range(N_OUTCOMES)]
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, outcomes)
    producing = asyncio.create_task(produce_slowly(streams))

    first = streams.start_worker(name="first")
    await eventually(
        lambda: sum(feedback_counts(streams).values()) >= N_FEEDBACK // 4,
        "a quarter of the feedback counted",
    )
    first.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    killed_at = sum(feedback_counts(streams).values())
    streams.start_worker(name="second")
    produced = await producing

    settings = streams.settings
    ends = await streams.ends(FEEDBACK_TOPIC)
    topic = FEEDBACK_TOPIC.name(settings)
    await eventually(lambda: applied(feedback_marks(streams), topic, ends), "all feedback", 120)
    assert killed_at < N_FEEDBACK  # the kill did land mid-stream
    assert feedback_counts(streams) == produced
    assert sum(produced.values()) == N_FEEDBACK
    ends = await streams.ends(INFERENCE_OUTCOMES_TOPIC)
    topic = INFERENCE_OUTCOMES_TOPIC.name(settings)
    await eventually(lambda: applied(ab_marks(streams), topic, ends), "all outcomes")
    half = N_OUTCOMES // 2
    assert arm_counts(streams) == {"aa-1/control": half, "aa-1/treatment": half}
    await eventually(lambda: stored(database, N_FEEDBACK), "every event stored", 180)


async def stored(database: Database, expected: int) -> bool:
    async with database.read() as session:
        rows = int(await session.scalar(text("SELECT count(*) FROM feedback")) or 0)
    # ``id`` is the primary key, so a replayed event cannot add a row; none may be extra.
    assert rows <= expected
    return rows == expected
