"""No single bad command or fault stops the trainer (issue 10).

The issue's reproduction: a TrainingCommand with a 100-character ``model_type`` made every
trainer exit with 'value too long for type character varying(64)' and replay it on restart.
Commands sent raw to Kafka (bypassing the API) with values the job row cannot hold become
dead letters with their reason; the next good command trains to completion.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.trainer import (
    FAST,
    Harness,
    command,
    model_command,
    started_trainer,
)
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def short_lease(harness: Harness, lease_s: float = 2.0) -> Harness:
    """The harness with a trainer that beats every 0.2 s and a short lease (2 s)."""
    quick = {"trainer_heartbeat_s": 0.2, "trainer_job_lease_s": lease_s, "trainer_retry_cap_s": 0.5}
    return replace(harness, settings=harness.settings.model_copy(update=quick))


async def test_bad_commands_become_dead_letters_and_the_next_job_completes(
    harness: Harness, tiny_model: Path
) -> None:
    # No lease expires here: 10 s outlasts a loaded machine's pauses in the running job's
    # heartbeats (with 2 s, a busy full test run once failed the good job as dead).
    harness = short_lease(harness, lease_s=10.0)
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    # A job the API recorded before the command reached the trainer: it must end failed.
    recorded = command("sft", model_id=base.id, job_id=f"job-{harness.unique}")
    await harness.jobs.create_from_command(
        command_id=recorded["command_id"], kind="sft", base_model=str(tiny_model),
        job_id=recorded["job_id"],
    )  # fmt: skip
    other = command("sft", model_id=base.id)
    taken, _ = await harness.jobs.create_from_command(
        command_id=other["command_id"], kind="sft", base_model=str(tiny_model)
    )
    bad = {
        "model_type": command("sft", model_id=base.id, model_type="m" * 100),
        "base_model": command("sft", base_model=f"{tiny_model}\x00"),
        "infinity": command("sft", model_id=base.id),
        "nul_module": recorded | {"config_json": json.dumps({"lora_target_modules": ["q\x00"]})},
        "taken_id": command("sft", model_id=base.id, job_id=taken.id),
    }
    bad["infinity"]["config_json"] = '{"learning_rate": Infinity, "max_steps": 2}'
    good = command("sft", model_id=base.id, config=FAST)

    async with started_trainer(harness) as trainer:
        for sent in bad.values():
            await harness.send(TRAINING_COMMANDS_TOPIC, sent)
        await harness.send(TRAINING_COMMANDS_TOPIC, good)
        await harness.job(good["command_id"], "running")
        for sent in (
            model_command("deploy", "no-such-model"),
            model_command("archive", base.id),  # in production: refused
            model_command("deploy", "m" * 65),
        ):
            await harness.send(MODEL_COMMANDS_TOPIC, sent)
        dead = await harness.events(DEADLETTER_TOPIC, lambda es: len(es) >= 8)
        job = await harness.job(good["command_id"], "completed", "failed")
        assert job.status == "completed", job.error_message
        assert not trainer.task.done()

    reasons = [e.record["reason"] for e in dead]
    sources = {e.record["source_topic"].rsplit(".", 2)[-2] for e in dead}
    assert sources == {"commands"}  # training and model commands topics
    for expected in (
        "model_type is 100 characters long, more than 64",
        "base_model contains a NUL character",
        "config_json.learning_rate is inf, not a finite number",
        "config_json.lora_target_modules[0] contains a NUL character",
        "constraint violated",  # the job id of another command: the store refused it
        "no model with id 'no-such-model'",
        "is in production",
        "model_id is 65 characters long",
    ):
        assert any(expected in reason for reason in reasons), (expected, reasons)
    failed = await harness.jobs.get(recorded["job_id"])
    assert failed.status == "failed"
    assert "lora_target_modules[0] contains a NUL" in (failed.error_message or "")
    assert (await harness.jobs.get(taken.id)).status == "pending"  # not the rejected one's
    assert not [j for j in await harness.jobs.list(limit=1000) if len(j.model_type) > 64]


async def test_a_job_whose_trainer_died_under_another_name_is_failed(
    harness: Harness, tiny_model: Path
) -> None:
    harness = short_lease(harness)
    sent = command("sft", base_model=str(tiny_model))
    job, _ = await harness.jobs.create_from_command(
        command_id=sent["command_id"], kind="sft", base_model=str(tiny_model)
    )
    await harness.jobs.mark_running(job.id, "pod-a")  # pod-a never beats again

    async with started_trainer(harness, worker_id="pod-b"):
        failed = await harness.job(sent["command_id"], "failed")
    assert "no heartbeat from trainer" in (failed.error_message or "")
    assert "pod-b" in (failed.error_message or "")
    assert failed.worker_id == "pod-a"
