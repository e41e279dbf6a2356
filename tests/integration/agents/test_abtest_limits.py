"""A real worker ends an A/B test that gets no traffic, and the name's next promotion starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.agents.conftest import Streams, eventually
from tests.support.kafka import read_events
from tonebridge.agents.promotion import DatabasePromotionTests
from tonebridge.client.producer import EventProducer
from tonebridge.decisions.promotion import promotion_test_id
from tonebridge.storage.abtests import ABTestRepository
from tonebridge.storage.db import Database
from tonebridge.storage.models import ModelRepository
from tonebridge.storage.records import ModelRecord
from tonebridge.topics.abtests import ABTEST_VERDICTS_TOPIC
from tonebridge.topics.models import MODEL_EVENTS_TOPIC, MODEL_REGISTERED, model_registered

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NAME = "tone-idle"
# One promotion test at a time per name (no superseding): only a test that ends lets the
# next candidate in. Nobody serves this one, so only its idle timeout can end it.
POLICIES = """
policies: []
promotion:
  supersede: false
  min_samples: 10
  idle_timeout_seconds: 2
"""
BETTER = {"chrf": 50.0, "baseline_chrf": 10.0, "vs_baseline_verdict": 1.0}


async def candidate(database: Database, version: str) -> ModelRecord:
    return await ModelRepository(database).add(
        name=NAME, version=version, model_type="tone_adjustment", base_model="tiny",
        path=f"/models/{NAME}/{version}",
    )  # fmt: skip


async def announce(streams: Streams, model: ModelRecord) -> None:
    """The ModelRegistered the trainer sends for a better candidate."""
    async with EventProducer(streams.settings) as producer:
        await producer.send_and_wait(MODEL_EVENTS_TOPIC, registered(model), MODEL_REGISTERED)


def registered(model: ModelRecord) -> dict[str, Any]:
    return model_registered(
        model_id=model.id, name=NAME, version=model.version, base_model="tiny",
        model_type="tone_adjustment", job_id="job", artifact_uri=model.path,
        metrics=BETTER, event_id=f"registered-{model.id}",
    )  # fmt: skip


async def test_an_idle_promotion_test_ends_with_no_traffic_and_unblocks_the_name(
    streams: Streams, database: Database, tmp_path: Path
) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    await ModelRepository(database).ensure_base(NAME, "tiny")
    first, second = await candidate(database, "1"), await candidate(database, "2")
    streams.start_worker(RETRAIN_POLICIES_FILE=str(policies), ABTEST_LIMITS_CHECK_S="0.5")
    tests = DatabasePromotionTests(ABTestRepository(database))
    first_test = promotion_test_id(first.id, f"registered-{first.id}")

    await announce(streams, first)
    [landed] = await read_events(streams.settings, ABTEST_VERDICTS_TOPIC, at_least=1, timeout_s=60)
    verdict = landed.event.record
    assert (verdict["test_id"], verdict["decision"]) == (first_test, "no_traffic")
    assert verdict["reason"] == "no outcome since the start for 2 s"
    assert (verdict["winner_model_id"], verdict["samples"]) == (
        None,
        {"control": 0, "treatment": 0},
    )
    await eventually(lambda: _running(tests, None), "the idle test's row completed")
    row = await ABTestRepository(database).get(first_test)
    assert row.results["decision"] == "no_traffic" and row.winner is None

    await announce(streams, second)
    second_test = promotion_test_id(second.id, f"registered-{second.id}")
    await eventually(lambda: _running(tests, second_test), "the next promotion test started")
    assert (await ABTestRepository(database).get(second_test)).model_b_id == second.id


async def _running(tests: DatabasePromotionTests, test_id: str | None) -> bool:
    return await tests.running(NAME) == test_id
