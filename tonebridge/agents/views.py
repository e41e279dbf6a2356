"""Read the workers' state from outside them: the API's view of feedback stats and A/B tests.

Every table write of a worker is a record on the table's changelog topic, sent before the
message that caused it is acknowledged. A view follows those changelogs from the beginning
(no consumer group, every partition, whichever worker owns it) and keeps the newest value of
each key in memory, so it is current to within the time a record takes to arrive (milliseconds
on a healthy broker; on the embedded broker, which holds a fetch for its whole wait, up to
``API_VIEWS_FETCH_MAX_WAIT_MS``). :meth:`TableView.sync` waits until everything written
before the call is read, for answers that must include the caller's own earlier writes.

Usage (e.g. in the API's lifespan)::

    stats = FeedbackStatsView(settings)
    await stats.start()
    await stats.sync()               # optional: catch up before the first answer
    stats.model("model-1")           # -> dict, or None for a model with no feedback
    stats.progress("model-1", rules) # -> each retraining policy's progress, or None
    tests = ABTestsView(settings); await tests.start(); tests.test("t-1")
    ...
    await stats.stop(); await tests.stop()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from aiokafka import ConsumerRecord, TopicPartition

from tonebridge.decisions import abtest_state as ab_state
from tonebridge.decisions import model_feedback
from tonebridge.decisions.abtest_state import ABTestState
from tonebridge.decisions.model_feedback import ModelFeedback
from tonebridge.decisions.policy_progress import Progress
from tonebridge.decisions.retraining import Policy
from tonebridge.errors import BrokerError
from tonebridge.settings import Settings
from tonebridge.topics.follower import TopicFollower
from tonebridge.topics.tables import ABTEST_TABLE, FEEDBACK_TABLE, changelog_topic, is_reserved

V = TypeVar("V")


class TableView(TopicFollower, Generic[V]):
    """The newest value of every key of one agent table, followed from its changelog."""

    def __init__(self, settings: Settings, table: str, decode: Callable[[bytes], V]) -> None:
        topic = changelog_topic(settings, table)
        fetch_wait = settings.api_views_fetch_max_wait_ms
        super().__init__(settings, topic, "tonebridge-view", fetch_max_wait_ms=fetch_wait)
        self._decode = decode
        self._raw: dict[str, bytes] = {}
        self._decoded: dict[str, V] = {}
        self._positions: dict[TopicPartition, int] = {}

    def take(self, partition: TopicPartition, messages: Sequence[ConsumerRecord]) -> None:
        for message in messages:
            if is_reserved(message.key):
                continue
            key = message.key.decode()
            self._raw[key] = message.value
            self._decoded.pop(key, None)
        self._positions[partition] = messages[-1].offset + 1

    async def sync(self, timeout_s: float = 2.0) -> None:
        """Return once every record written before this call has been read.

        (The embedded broker reports a partition's end inside its last record batch; a fetch
        returns whole batches, so a position past that end has passed the whole batch.)
        """
        consumer = self._consumer
        if consumer is None:
            msg = "the view is not started"
            raise BrokerError(msg)
        deadline = time.monotonic() + timeout_s
        while not consumer.assignment():
            if self.topic not in await consumer.topics():
                return  # no worker has written anything yet
            self._check(deadline, timeout_s)
            await asyncio.sleep(0.01)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        while any(self._positions.get(tp, 0) < end for tp, end in ends.items()):
            self._check(deadline, timeout_s)
            await asyncio.sleep(0.01)

    def _check(self, deadline: float, timeout_s: float) -> None:
        if time.monotonic() > deadline:
            msg = f"{self.topic}: not caught up within {timeout_s:.1f}s"
            raise BrokerError(msg)

    def get(self, key: str) -> V | None:
        if key not in self._decoded:
            raw = self._raw.get(key)
            if raw is None:
                return None
            self._decoded[key] = self._decode(raw)
        return self._decoded[key]

    def keys(self) -> list[str]:
        return sorted(self._raw)


class FeedbackStatsView(TableView[ModelFeedback]):
    """Rolling feedback statistics per model and per (model, transformation type)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, FEEDBACK_TABLE, ModelFeedback.from_json)

    def model(self, model_id: str, now_ms: int | None = None) -> dict[str, Any] | None:
        """``{"overall": {...}, "by_type": {type: {...}}}``, each with ``all_time``,
        ``last_hour`` and ``last_day`` summaries (windows end at the newest event, or at
        ``now_ms`` in event time)."""
        state = self.get(model_id)
        return None if state is None else model_feedback.summary(state, now_ms)

    def models(self) -> list[str]:
        return self.keys()

    def state(self, model_id: str) -> ModelFeedback | None:
        """The model's windows themselves (the dashboard plots their buckets)."""
        return self.get(model_id)

    def progress(self, model_id: str, rules: Sequence[Policy]) -> list[Progress] | None:
        """Where each of ``rules`` that applies to the model stands (``GET /policies``)."""
        state = self.get(model_id)
        return None if state is None else model_feedback.progress(model_id, state, rules)


class ABTestsView(TableView[ABTestState]):
    """Every A/B test the worker knows: spec, status, per-arm results and verdict."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, ABTEST_TABLE, ABTestState.from_json)

    def test(self, test_id: str) -> dict[str, Any] | None:
        state = self.get(test_id)
        return None if state is None else ab_state.view(state)

    def tests(self) -> list[str]:
        return self.keys()

    def look(self, test_id: str) -> dict[str, Any] | None:
        """A running test's decision rows as of now (the dashboard plots them over time)."""
        state = self.get(test_id)
        return None if state is None else ab_state.current_look(state)
