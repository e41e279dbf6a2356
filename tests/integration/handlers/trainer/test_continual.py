"""Continual training through the real trainer: a retraining continues its parent's adapter
and replays a share of the feedback older than its window; ``start_from: base`` does not."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.trainer import FAST, T0, Harness, RunningTrainer, command
from tonebridge.decisions.continual import replay_count
from tonebridge.handlers.trainer import continual
from tonebridge.handlers.trainer.plan import make_plan
from tonebridge.storage import DatasetRepository, FeedbackRepository
from tonebridge.storage.records import FeedbackSelection, ModelRecord, TrainingJobRecord
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LATER = T0 + timedelta(days=2)  # the second round's feedback, after the first round's


async def _trained(harness: Harness, **fields: Any) -> tuple[TrainingJobRecord, ModelRecord]:
    sent = command("sft", **{"config": FAST, **fields})
    await harness.send(TRAINING_COMMANDS_TOPIC, sent)
    job = await harness.job(sent["command_id"], "completed", "failed")
    assert job.status == "completed", job.error_message
    found = [
        m
        for m in await harness.models.list(name=f"tone-{harness.unique}")
        if m.training_job_id == job.id
    ]
    return job, found[0]


async def test_a_retraining_continues_the_parent_and_replays_older_feedback(
    harness: Harness, trainer: RunningTrainer, tiny_model: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)  # round 1: 48 corrections on the base, at T0
    first, v1 = await _trained(harness, model_id=base.id)
    assert first.metrics["continued_parent"] == 0.0  # a base model has no adapter to continue
    assert first.metrics["replayed"] == 0.0  # and nothing older than its window

    await harness.feedback(v1.id, start=48, at=LATER, prefix="round2")
    since = T0 + timedelta(days=1)
    second, v2 = await _trained(harness, model_id=v1.id, feedback_since=since)
    assert second.metrics["continued_parent"] == 1.0
    assert second.metrics["replayed"] == replay_count(48, harness.settings.replay_fraction) > 0
    # It starts from what v1 learned: its first loss is below the first round's first loss.
    assert second.metrics["first_loss"] < first.metrics["first_loss"], (first, second)
    assert second.parent_model_id == v1.id  # the lineage still names the parent
    assert v2.lineage["feedback_count"] == 48  # the window; the replay is recorded beside it
    built = await DatasetRepository(harness.db).get(v2.lineage["dataset_id"])
    assert built.lineage["replayed"] == second.metrics["replayed"]

    fresh, _ = await _trained(
        harness, model_id=v1.id, feedback_since=since,
        config={**FAST, "start_from": "base", "replay_fraction": 0.0},
    )  # fmt: skip
    assert (fresh.metrics["continued_parent"], fresh.metrics["replayed"]) == (0.0, 0.0)


async def test_the_older_feedback_is_the_parents_before_the_window_and_its_ancestors(
    harness: Harness, trainer: RunningTrainer, tiny_model: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    _, v1 = await _trained(harness, model_id=base.id)
    await harness.feedback(v1.id, start=48, at=LATER, prefix="late")
    assert await continual.lineage(harness.models, harness.jobs, v1.id) == [v1.id, base.id]

    window = FeedbackRepository(harness.db)
    rows = await continual.replayed(
        window, harness.models, harness.jobs,
        _selection(v1.id, since=LATER + timedelta(minutes=24)), fraction=1.0, seed=0,
    )  # fmt: skip
    by_model = {m: sum(r.model_id == m for r in rows) for m in (base.id, v1.id)}
    assert by_model == {base.id: 48, v1.id: 24}  # v1's first 24 are before the window
    assert [r.created_at for r in rows] == sorted(r.created_at for r in rows)
    again = await continual.replayed(
        window, harness.models, harness.jobs, _selection(v1.id, since=LATER), fraction=0.3, seed=5
    )
    assert len(again) == replay_count(48, 0.3)  # only base's: v1 has none before LATER
    assert {r.model_id for r in again} == {base.id}


async def test_a_job_continues_only_an_adapter_on_its_own_base(
    harness: Harness, trainer: RunningTrainer, tiny_model: Path, tmp_path: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    job, v1 = await _trained(harness, model_id=base.id)

    async def start(**config: Any) -> Path | None:
        sent = command("sft", model_id=v1.id, config=config)
        plan = await make_plan(harness.models, job, sent)
        return await continual.start_adapter(harness.registry, plan, tmp_path / "parent")

    continued = await start()
    assert continued is not None and (continued / "adapter_config.json").is_file()
    assert await start(start_from="base") is None


def _selection(model_id: str, *, since: datetime) -> FeedbackSelection:
    return FeedbackSelection(model_id=model_id, since=since, until=LATER + timedelta(days=1))
