"""The worker's counters: per batch, and per effect by a bounded label."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tonebridge.agents.runtime.metrics import WorkerMetrics, error_class
from tonebridge.errors import InvalidEventError
from tonebridge.topics.abtests import ABTEST_VERDICTS_TOPIC
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.messages import Message, Origin
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC


def value(metrics: WorkerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_a_batch_counts_its_messages_once_it_is_applied() -> None:
    metrics = WorkerMetrics()
    applied: list[int] = []

    async def handle(batch: Sequence[Message]) -> None:
        applied.append(len(batch))

    counted = metrics.counted("tally_feedback", handle)
    batch = [(Origin("t", 0, n, None), b"") for n in range(3)]
    await counted(batch)
    await counted(batch[:1])
    assert applied == [3, 1]
    assert value(metrics, "tonebridge_worker_messages_total", agent="tally_feedback") == 4
    count = "tonebridge_worker_batch_duration_seconds_count"
    assert value(metrics, count, agent="tally_feedback") == 2


async def test_a_failed_batch_counts_nothing() -> None:
    metrics = WorkerMetrics()

    async def handle(batch: Sequence[Message]) -> None:
        msg = "database down"
        raise RuntimeError(msg)

    with pytest.raises(RuntimeError):
        await metrics.counted("a", handle)([(Origin("t", 0, 0, None), b"")])
    assert value(metrics, "tonebridge_worker_messages_total", agent="a") == 0


def test_effects_are_counted_by_a_bounded_label() -> None:
    metrics = WorkerMetrics()
    letters = [
        {"error_type": "InvalidEventError"},
        {"error_type": "DecodeError"},
        {"error_type": "KeyError: 'model_id' in a message from a producer"},
    ]
    metrics.sent(DEADLETTER_TOPIC, letters)
    metrics.sent(ABTEST_VERDICTS_TOPIC, [{"decision": "winner"}, {"decision": "winner"}])
    metrics.sent(TRAINING_COMMANDS_TOPIC, [{"requested_by": "policy:corrections"}])
    metrics.sent(FEEDBACK_TOPIC, [{"error_type": "DecodeError"}])  # not an effect: uncounted
    dead = "tonebridge_worker_dead_letters_total"
    assert value(metrics, dead, error="InvalidEventError") == 1
    assert value(metrics, dead, error="DecodeError") == 1
    assert value(metrics, dead, error="other") == 1
    assert value(metrics, "tonebridge_worker_verdicts_total", decision="winner") == 2
    assert value(metrics, "tonebridge_worker_policy_fires_total", policy="corrections") == 1


def test_an_error_class_outside_the_tree_is_other() -> None:
    assert error_class(InvalidEventError.__name__) == "InvalidEventError"
    assert error_class("ValueError") == "other"
    assert error_class(None) == "other"
