"""A client's retries of one event_id are counted once: in feedback statistics and A/B arms.

Reproduction of issue 10: the same event sent 20 times was 1 row in the database but 20 in
the statistics that fire retraining and decide A/B tests.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Any

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
RETRIES = 20


def count(streams: Streams, model_id: str = "model-a") -> int:
    state = streams.feedback.get(model_id)
    return 0 if state is None else state.overall.all_time.count


def arms(streams: Streams, test_id: str = "ab-1") -> dict[str, int]:
    state = streams.tests.get(test_id)
    return {} if state is None else {a: s.assigned for a, s in state.stats.arms.items()}


async def stored(database: Database, expected: int) -> bool:
    async with database.read() as session:
        rows = int(await session.scalar(text("SELECT count(*) FROM feedback")) or 0)
    assert rows <= expected
    return rows == expected


async def retry(streams: Streams, spec: Any, record: Mapping[str, Any], times: int) -> None:
    """Send ``record`` ``times`` times, each in a message of its own (a client's retries)."""
    for _ in range(times):
        await streams.produce(spec, [record])


async def test_an_event_sent_20_times_is_counted_once(streams: Streams, database: Database) -> None:
    await ModelRepository(database).ensure_base("model-a", "t5-small", model_id="model-a")
    await streams.produce(ABTEST_COMMANDS_TOPIC, [create_test("ab-1", min_samples=10**6)])
    streams.start_worker()
    await retry(streams, FEEDBACK_TOPIC, feedback(n=1), RETRIES - 2)
    await streams.produce(FEEDBACK_TOPIC, [feedback(n=1), feedback(n=1)])  # one EventBatch
    await retry(streams, INFERENCE_OUTCOMES_TOPIC, outcome("ab-1", "treatment", n=1), RETRIES)
    # Another event behind the retries on each partition: once it counts, they all were read.
    await streams.produce(FEEDBACK_TOPIC, [feedback(n=2)])
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, [outcome("ab-1", "control", n=2)])

    await eventually(lambda: count(streams) == 2, lambda: f"2 events counted, not {count(streams)}")
    await eventually(lambda: arms(streams).get("control") == 1, "the control outcome counted")
    assert arms(streams) == {"control": 1, "treatment": 1}
    assert count(streams) == 2
    await eventually(lambda: stored(database, 2), "the two events stored")


async def test_ids_seen_before_a_restart_are_still_duplicates_after_it(streams: Streams) -> None:
    await streams.produce(ABTEST_COMMANDS_TOPIC, [create_test("ab-1", min_samples=10**6)])
    await streams.produce(FEEDBACK_TOPIC, [feedback(n=1)])
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, [outcome("ab-1", "treatment", n=1)])
    first = streams.start_worker("--no-sink", name="first")
    await eventually(lambda: count(streams) == 1, "the event counted")
    await eventually(lambda: arms(streams).get("treatment") == 1, "the outcome counted")
    first.send_signal(signal.SIGTERM)  # offsets committed: nothing is read again
    first.wait(30)

    streams.start_worker("--no-sink", name="second")  # its state comes from the changelog
    await streams.produce(FEEDBACK_TOPIC, [feedback(n=1)])
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, [outcome("ab-1", "treatment", n=1)])
    await streams.produce(FEEDBACK_TOPIC, [feedback(n=2)])
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, [outcome("ab-1", "control", n=2)])

    await eventually(lambda: count(streams) == 2, lambda: f"2 events counted, not {count(streams)}")
    await eventually(lambda: arms(streams).get("control") == 1, "the control outcome counted")
    assert arms(streams) == {"control": 1, "treatment": 1}
    assert count(streams) == 2
