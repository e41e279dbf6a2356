"""The trainer end to end: commands in through the embedded broker, jobs, MLflow, events out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest

from tests.support.trainer import (
    FAST,
    T0,
    Harness,
    RunningTrainer,
    command,
    eventually,
    model_command,
)
from tonebridge.avro.codec import Decoded
from tonebridge.handlers.trainer.service import TRAINER_GROUP
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC, MODEL_EVENTS_TOPIC
from tonebridge.topics.training import (
    TRAINING_COMMANDS_TOPIC,
    TRAINING_CONTROL_TOPIC,
    TRAINING_STATUS_TOPIC,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def of(job_id: str, name: str = "TrainingStatus") -> object:
    def pick(events: list[Decoded]) -> list[dict[str, object]]:
        return [e.record for e in events if e.name == name and e.record.get("job_id") == job_id]

    return pick


async def test_a_training_command_yields_a_version_a_row_and_an_event_then_deploy_and_rollback(
    harness: Harness, trainer: RunningTrainer, tiny_model: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    sent = command("sft", model_id=base.id, config=FAST)
    await harness.send(TRAINING_COMMANDS_TOPIC, sent)

    job = await harness.job(sent["command_id"], "completed", "failed")
    assert job.status == "completed", job.error_message
    assert job.started_at is not None and job.completed_at is not None
    assert job.progress == 1.0
    for metric in ("train_loss", "eval_loss", "chrf", "bleu", "vs_baseline_chrf_delta"):
        assert metric in job.metrics

    registered = await harness.events(MODEL_EVENTS_TOPIC, lambda es: bool(es))
    event = registered[0].record
    assert registered[0].name == "ModelRegistered"
    assert (event["job_id"], event["name"], event["base_model"]) == (
        job.id,
        base.name,
        base.base_model,
    )
    assert event["feedback_count"] == 48 and event["dataset_id"]
    model = await harness.models.get(event["model_id"])
    assert (model.status, model.version, model.training_job_id) == (
        "draft",
        event["version"],
        job.id,
    )
    version = harness.registry.get_version(base.name, model.version)
    assert version.run_id == event["mlflow_run_id"] == model.mlflow_run_id
    assert version.source == model.path == event["artifact_uri"]
    assert (harness.registry.local_path(version.source) / "adapter_config.json").is_file()
    inputs = harness.registry.run_inputs(model.mlflow_run_id or "")
    assert {i.dataset.name for i in inputs} == {
        f"{event['dataset_id']}-training",
        f"{event['dataset_id']}-validation",
    }
    history = partial(harness.registry.client.get_metric_history, model.mlflow_run_id or "")
    losses = history("loss")
    ordered = sorted(losses, key=lambda m: m.step)  # one point per logged step, in time order
    steps = [m.step for m in ordered]
    assert len(steps) >= 3 and len(set(steps)) == len(steps) and steps[-1] == FAST["max_steps"]
    assert [m.timestamp for m in ordered] == sorted(m.timestamp for m in ordered)
    assert sorted(m.step for m in history("learning_rate")) == steps
    assert [m.step for m in history("chrf")] == [FAST["max_steps"]]  # held-out, at the end

    statuses = await harness.events(
        TRAINING_STATUS_TOPIC, lambda es: any(s["status"] == "completed" for s in of(job.id)(es))
    )
    progress = [s for s in of(job.id)(statuses) if s["status"] == "running" and s["step"] > 0]
    assert len(progress) >= 3
    assert all(s["total_steps"] == FAST["max_steps"] and s["loss"] is not None for s in progress)

    await harness.send(MODEL_COMMANDS_TOPIC, model_command("deploy", model.id))
    deployed = await eventually(
        lambda: _alias(harness, base.name, model.version), what="production alias"
    )
    assert deployed == model.version
    assert (await harness.models.get(base.id)).status == "archived"
    await harness.send(MODEL_COMMANDS_TOPIC, model_command("rollback", model.id))
    changes = await harness.events(
        MODEL_EVENTS_TOPIC, lambda es: sum(e.name == "ModelChanged" for e in es) >= 2
    )
    changed = [e.record for e in changes if e.name == "ModelChanged"]
    assert [(c["change"], c["model_id"]) for c in changed] == [
        ("deployed", model.id),
        ("rolled_back", base.id),
    ]
    assert changed[1]["previous_model_id"] == model.id
    assert harness.registry.alias_version(base.name, "production") is None
    assert (await harness.models.get(base.id)).status == "production"


async def test_an_orpo_command_trains_on_the_corrections_and_registers_a_version(
    harness: Harness, trainer: RunningTrainer, tiny_model: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    sent = command("orpo", model_id=base.id, config={**FAST, "beta": 0.5})
    await harness.send(TRAINING_COMMANDS_TOPIC, sent)

    job = await harness.job(sent["command_id"], "completed", "failed")
    assert job.status == "completed", job.error_message
    assert job.kind == "orpo" and "log_odds_ratio" in job.metrics
    registered = await harness.events(MODEL_EVENTS_TOPIC, lambda es: bool(es))
    assert (registered[0].name, registered[0].record["job_id"]) == ("ModelRegistered", job.id)
    # The pairs are the users' corrections (chosen) over the model's echoes (rejected).
    assert registered[0].record["feedback_count"] == 48


async def _at_least(count: Awaitable[int], wanted: int) -> bool:
    return await count >= wanted


async def _alias(harness: Harness, name: str, version: str) -> str | None:
    found = harness.registry.alias_version(name, "production")
    return found if found == version else None


async def test_a_policy_command_waits_for_the_feedback_that_fired_it(
    harness: Harness, trainer: RunningTrainer, tiny_model: Path
) -> None:
    # A policy fires on the stream, at the event time of the newest feedback it saw; here
    # the database sink stores that feedback only after the command has reached the trainer.
    base = await harness.base_model(tiny_model)
    fired_at = T0 + timedelta(minutes=47)  # the 48th feedback event's time
    sent = command(
        "sft",
        model_id=base.id,
        feedback_since=T0,
        event_time=fired_at,
        requested_by="policy:enough-corrections",
        config=FAST,
    )
    await harness.send(TRAINING_COMMANDS_TOPIC, sent)
    waiting = await harness.job(sent["command_id"], "running")
    await asyncio.sleep(1.0)
    assert (await harness.jobs.get(waiting.id)).status == "running"
    await harness.feedback(base.id)

    job = await harness.job(sent["command_id"], "completed", "failed")
    assert job.status == "completed", job.error_message
    registered = await harness.events(MODEL_EVENTS_TOPIC, lambda es: bool(es))
    assert registered[0].record["feedback_count"] == 48


async def test_a_duplicate_command_makes_one_job_and_api_only_models_are_refused(
    harness: Harness, trainer: RunningTrainer
) -> None:
    sent = command("dpo", base_model="gpt-4", config={"max_steps": 1})
    await harness.send(TRAINING_COMMANDS_TOPIC, sent)
    await harness.send(TRAINING_COMMANDS_TOPIC, sent | {"event_id": "replayed"})
    job = await harness.job(sent["command_id"], "failed")
    assert "API-only" in (job.error_message or "")
    await eventually(
        lambda: _at_least(harness.consumed(TRAINER_GROUP, TRAINING_COMMANDS_TOPIC), 2),
        what="both deliveries handled and committed",
    )
    jobs = [j for j in await harness.jobs.list(limit=1000) if j.command_id == sent["command_id"]]
    assert [j.id for j in jobs] == [job.id]
    statuses = await harness.events(
        TRAINING_STATUS_TOPIC, lambda es: bool(of(job.id)(es)), timeout_s=30
    )
    assert [s["status"] for s in of(job.id)(statuses)] == ["failed"]


async def test_a_command_naming_an_unknown_model_fails_its_job(
    harness: Harness, trainer: RunningTrainer
) -> None:
    sent = command("sft", model_id="no-such-model", base_model="tiny")
    await harness.send(TRAINING_COMMANDS_TOPIC, sent)
    job = await harness.job(sent["command_id"], "failed")
    assert "unknown parent_model_id" in (job.error_message or "")


async def test_a_stop_command_stops_the_run_and_nothing_is_registered(
    harness: Harness, trainer: RunningTrainer, tiny_model: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    sent = command("sft", model_id=base.id, config=FAST | {"max_steps": 5000})
    await harness.send(TRAINING_COMMANDS_TOPIC, sent)
    running = await harness.job(sent["command_id"], "running")
    await harness.events(
        TRAINING_STATUS_TOPIC, lambda es: any(s["step"] > 0 for s in of(running.id)(es))
    )
    await harness.send(TRAINING_CONTROL_TOPIC, command("stop", job_id=running.id))
    job = await harness.job(sent["command_id"], "stopped", "completed", "failed")
    assert job.status == "stopped", job.error_message
    assert job.stop_requested
    assert 0 < job.progress < 0.1
    assert await harness.models.list(name=base.name, limit=100) == [base]
    assert harness.registry.client.search_model_versions(f"name='{base.name}'") == []
    statuses = await harness.events(
        TRAINING_STATUS_TOPIC, lambda es: any(s["status"] == "stopped" for s in of(job.id)(es))
    )
    assert "stop requested: stopped at step" in str(of(job.id)(statuses)[-1]["message"])


async def test_an_evaluate_command_stores_metrics_and_a_comparison(
    harness: Harness, trainer: RunningTrainer, tiny_model: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id, count=12)
    config = {"eval_max_examples": 6, "eval_max_new_tokens": 8, "bootstrap_samples": 100}
    sent = command("evaluate", model_id=base.id, baseline_model_id=base.id, config=config)
    await harness.send(TRAINING_COMMANDS_TOPIC, sent)
    job = await harness.job(sent["command_id"], "completed", "failed")
    assert job.status == "completed", job.error_message
    assert job.metrics["num_examples"] == 6
    assert job.metrics["vs_baseline_chrf_delta"] == 0
    statuses = await harness.events(
        TRAINING_STATUS_TOPIC, lambda es: any(s["status"] == "completed" for s in of(job.id)(es))
    )
    assert of(job.id)(statuses)[-1]["metrics"]["chrf"] == job.metrics["chrf"]
