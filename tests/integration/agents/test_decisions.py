"""Verdicts, rollbacks and retraining commands from a real worker, and their determinism."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agents.conftest import Streams, eventually
from tests.support.agents import create_test, feedback, outcome
from tests.support.kafka import read_events
from tonebridge.storage.abtests import ABTestRepository
from tonebridge.storage.db import Database
from tonebridge.storage.models import ModelRepository
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]
POLICIES = """
policies:
  - name: corrections
    kind: min_corrections
    threshold: 40
    training: {kind: sft, base_model: t5-small}
  - name: lost
    kind: lost_ab_test
    training: {kind: dpo}
"""


def outcomes(test_id: str, n: int, rates: tuple[float, float], **extra: Any) -> list[Any]:
    return [
        outcome(test_id, arm, n=i, success=(i % 10) < 10 * rate, **extra)
        for i in range(n)
        for arm, rate in (("control", rates[0]), ("treatment", rates[1]))
    ]


async def register(database: Database, test_id: str) -> None:
    models = ModelRepository(database)
    for model_id in (f"{test_id}-old", f"{test_id}-new"):
        await models.add(
            name=model_id, version="1", model_type="tone_adjustment", base_model="t5-small",
            path=f"/models/{model_id}", model_id=model_id,
        )  # fmt: skip
    await ABTestRepository(database).create(
        name=test_id, model_a_id=f"{test_id}-old", model_b_id=f"{test_id}-new", test_id=test_id
    )


async def test_verdicts_rollbacks_and_retraining_commands(
    streams: Streams, database: Database, tmp_path: Path
) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    await register(database, "win")
    for test_id, guardrail in (("win", None), ("slow", "latency_ms")):
        await streams.produce(
            ABTEST_COMMANDS_TOPIC, [create_test(test_id, min_samples=30, guardrail=guardrail)]
        )
    streams.start_worker(RETRAIN_POLICIES_FILE=str(policies), RETRAIN_ENABLED="true")
    await eventually(lambda: set(streams.tests.tests()) == {"win", "slow"}, "the tests known")

    started = time.monotonic()
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, outcomes("win", 300, (0.2, 0.8)))
    latency = [
        outcome("slow", arm, n=i, success=True, metrics={"latency_ms": ms + i % 7})
        for i in range(300)
        for arm, ms in (("control", 100.0), ("treatment", 250.0))
    ]
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, latency)
    # Policies look once per message: two sends of 50 corrections (threshold 40) fire twice
    # however the producer packs them.
    corrected = [feedback("tone-a", n=n, corrected="Send it soon, please.") for n in range(100)]
    await streams.produce(FEEDBACK_TOPIC, corrected[:50])
    await streams.produce(FEEDBACK_TOPIC, corrected[50:])

    verdicts = await read_events(streams.settings, ABTEST_VERDICTS_TOPIC, at_least=2)
    decided = {v.event.record["test_id"]: v.event.record for v in verdicts}
    assert decided["win"]["decision"] == "winner"
    assert decided["win"]["winner_model_id"] == "win-new"
    assert decided["slow"]["decision"] == "guardrail_violation"
    assert time.monotonic() - started < 30
    await eventually(lambda: _completed(database, "win"), "the ab_tests row completed")
    # The view follows the changelog, written after the verdict is stored: wait for it.
    await eventually(lambda: _status(streams, "win") == "decided", "the view shows the verdict")

    [rollback] = await read_events(streams.settings, MODEL_COMMANDS_TOPIC, at_least=1)
    assert (rollback.event.record["action"], rollback.event.record["model_id"]) == (
        "rollback", "slow-new",
    )  # fmt: skip
    commands = await read_events(streams.settings, TRAINING_COMMANDS_TOPIC, at_least=4)
    by_policy = sorted(
        (c.event.record["requested_by"], c.event.record["model_id"]) for c in commands
    )
    assert by_policy == [
        ("policy:corrections", "tone-a"),
        ("policy:corrections", "tone-a"),
        ("policy:lost", "slow-new"),
        ("policy:lost", "win-old"),
    ]

    # A second worker group replaying the same topics decides the same: same command ids.
    streams.start_worker(
        name="replay",
        WORKER_ID="replay",
        RETRAIN_POLICIES_FILE=str(policies),
        RETRAIN_ENABLED="true",
    )
    again = await read_events(streams.settings, TRAINING_COMMANDS_TOPIC, at_least=8)
    ids = [c.event.record["command_id"] for c in again]
    assert len(ids) == 8 and len(set(ids)) == 4
    assert {c.event.record["command_id"] for c in commands} == set(ids)


async def _completed(database: Database, test_id: str) -> bool:
    record = await ABTestRepository(database).get(test_id)
    return record.status == "completed" and record.winner == "win-new"


def _status(streams: Streams, test_id: str) -> str | None:
    state = streams.tests.test(test_id)
    return None if state is None else str(state["status"])
