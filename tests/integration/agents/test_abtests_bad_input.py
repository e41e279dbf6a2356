"""Hostile outcomes between good ones, read by a real worker: each bad one is a dead letter
with its reason, the good ones are counted exactly, and the worker keeps working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.agents.conftest import Streams, eventually
from tests.integration.agents.test_decisions import register
from tests.support.agents import create_test, encoded, outcome, stop_test
from tests.support.kafka import read_events
from tonebridge.storage.abtests import ABTestRepository
from tonebridge.storage.db import Database
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def assigned(streams: Streams, test_id: str) -> dict[str, int]:
    state = streams.tests.get(test_id)
    return {} if state is None else {a: s.assigned for a, s in state.stats.arms.items()}


def good(test_id: str, start: int, n: int, at: datetime) -> list[dict[str, Any]]:
    arms = ("control", "treatment")
    return [outcome(test_id, arm, n=i, at=at) for i in range(start, start + n) for arm in arms]


async def send_raw(streams: Streams, record: dict[str, Any]) -> None:
    """Past the producer SDK, as a producer that ignores the rules would write it."""
    await streams.produce_raw(
        INFERENCE_OUTCOMES_TOPIC, *encoded(INFERENCE_OUTCOMES_TOPIC, [record])
    )


async def finished(database: Database, test_id: str) -> bool:
    return (await ABTestRepository(database).get(test_id)).status == "completed"


async def test_bad_outcomes_are_dead_letters_and_the_good_ones_count(
    streams: Streams, database: Database
) -> None:
    now = datetime.now(UTC)
    await register(database, "done")
    commands = [create_test("ab-1", min_samples=10**6, at=now), create_test("done", at=now)]
    await streams.produce(ABTEST_COMMANDS_TOPIC, commands)
    await streams.produce(ABTEST_COMMANDS_TOPIC, [stop_test("done", at=now)])
    worker = streams.start_worker()
    await eventually(lambda: set(streams.tests.tests()) == {"ab-1", "done"}, "the tests known")
    await eventually(lambda: finished(database, "done"), "the stopped test completed in the db")

    bad = {
        "NUL": {**outcome("ab-1", n=1, at=now), "request_id": "req\x00"},
        "unknown": outcome("ab-404", n=2, at=now),
        "model": {**outcome("ab-1", "control", n=3, at=now), "model_id": "ab-1-new"},
        "finished": outcome("done", "control", n=4, at=now),
        "future": outcome("ab-1", n=5, at=now + timedelta(hours=1)),
    }
    for record in bad.values():
        await send_raw(streams, record)
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, good("ab-1", 100, 10, now))

    counted = {"control": 10, "treatment": 10}
    await eventually(
        lambda: assigned(streams, "ab-1") == counted,
        lambda: f"the good outcomes counted, not {assigned(streams, 'ab-1')}",
    )
    letters = await read_events(streams.settings, DEADLETTER_TOPIC, at_least=5)
    reasons = sorted(letter.event.record["reason"] for letter in letters)
    assert len(reasons) == 5, reasons
    expected = [
        "A/B test 'done' is finished (stopped): a late outcome is not counted",
        "event_time ",  # ... is 3600 s in the future (at most 300 s allowed)
        "outcome for unknown A/B test 'ab-404'",
        "outcome of model 'ab-1-new' for arm 'control' of A/B test 'ab-1', "
        "which serves model 'ab-1-old'",
        "request_id contains a NUL character",
    ]
    for reason, part in zip(reasons, sorted(expected), strict=True):
        assert part in reason, (reason, part)
    assert any("in the future (at most 300 s allowed)" in r for r in reasons)
    assert assigned(streams, "done") == {}  # a finished test keeps no arm state

    # Still at work, and exact.
    assert worker.poll() is None
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, good("ab-1", 200, 5, now))
    counted = {"control": 15, "treatment": 15}
    await eventually(lambda: assigned(streams, "ab-1") == counted, "the later outcomes counted")
    assert worker.poll() is None
