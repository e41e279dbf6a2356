"""The API's view of the worker's tables: current within a couple of seconds."""

from __future__ import annotations

import time

import pytest

from tests.integration.agents.conftest import Streams, eventually
from tests.support.agents import create_test, feedback, outcome
from tonebridge.agents.views import FeedbackStatsView
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def count(streams: Streams, model_id: str) -> int:
    summary = streams.feedback.model(model_id)
    return 0 if summary is None else int(summary["overall"]["all_time"]["count"])


async def test_stats_and_tests_are_visible_within_two_seconds(streams: Streams) -> None:
    streams.start_worker()
    await streams.produce(FEEDBACK_TOPIC, [feedback(n=0)])
    await eventually(lambda: count(streams, "model-a") == 1, "the worker at work")

    sent = time.monotonic()
    await streams.produce(FEEDBACK_TOPIC, [feedback(n=1, rating=1, kind="casual")])
    await eventually(lambda: count(streams, "model-a") == 2, "the new event in the view", 2.0)
    assert time.monotonic() - sent < 2.0
    summary = streams.feedback.model("model-a")
    assert summary is not None
    assert summary["overall"]["last_hour"]["rating_histogram"] == {"1": 1, "2": 0, "3": 0,
                                                                   "4": 1, "5": 0}  # fmt: skip
    assert summary["by_type"]["casual"]["all_time"]["count"] == 1

    await streams.produce(ABTEST_COMMANDS_TOPIC, [create_test("ab-1")])
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, [outcome("ab-1", n=n) for n in range(3)])
    await eventually(lambda: bool(streams.tests.test("ab-1")), "the test in the view", 5.0)
    await eventually(
        lambda: (streams.tests.test("ab-1") or {})["arms"]["treatment"]["assigned"] == 3,
        "its outcomes in the view",
        5.0,
    )

    # A view started later catches up with everything written before it (sync).
    late = FeedbackStatsView(streams.settings)
    await late.start()
    try:
        await late.sync(timeout_s=10)
        assert late.models() == ["model-a"]
        assert late.model("model-a") == streams.feedback.model("model-a")
    finally:
        await late.stop()
