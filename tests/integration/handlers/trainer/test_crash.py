"""A trainer killed mid-job (SIGKILL) leaves no job `running` after a restart, under its own
name or another (a new pod name); SIGTERM stops it."""

from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.trainer import (
    FAST,
    Harness,
    command,
    eventually,
    started_trainer,
    trainer_process,
)
from tonebridge.handlers.trainer.service import TRAINER_GROUP
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC, TRAINING_STATUS_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_killed_trainer_leaves_no_running_job_after_restart(
    harness: Harness, tiny_model: Path, tmp_path: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    sent = command("sft", model_id=base.id, config=FAST | {"max_steps": 5000})
    process = trainer_process(harness, tmp_path / "trainer.log")
    try:
        await harness.send(TRAINING_COMMANDS_TOPIC, sent)
        running = await harness.job(sent["command_id"], "running")
        await eventually(
            lambda: _progressed(harness, running.id), what="training steps before the kill"
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert process.returncode == -signal.SIGKILL
    assert (await harness.jobs.get(running.id)).status == "running"

    async with started_trainer(harness):
        job = await harness.job(sent["command_id"], "failed")
        assert "restarted while the job was running" in (job.error_message or "")
        # The command was never committed: it comes back, finds its job ended, is skipped.
        await eventually(
            lambda: _committed(harness), what="the redelivered command to be committed"
        )
    assert (await harness.jobs.get(running.id)).status == "failed"
    assert not [j for j in await harness.jobs.list(status="running", limit=1000)
                if j.worker_id == f"w-{harness.unique}"]  # fmt: skip
    statuses = await harness.events(
        TRAINING_STATUS_TOPIC,
        lambda es: any(e.record["job_id"] == running.id and e.record["status"] == "failed"
                       for e in es),
    )  # fmt: skip
    assert statuses


async def test_a_job_of_a_killed_trainer_is_failed_by_a_trainer_with_another_name(
    harness: Harness, tiny_model: Path, tmp_path: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    sent = command("sft", model_id=base.id, config=FAST | {"max_steps": 5000})
    process = trainer_process(harness, tmp_path / "trainer.log")
    try:
        await harness.send(TRAINING_COMMANDS_TOPIC, sent)
        running = await harness.job(sent["command_id"], "running")
        await eventually(lambda: _progressed(harness, running.id), what="training steps")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    quick = {"trainer_heartbeat_s": 0.2, "trainer_job_lease_s": 2.0}
    renamed = replace(harness, settings=harness.settings.model_copy(update=quick))
    async with started_trainer(renamed, worker_id=f"new-pod-{harness.unique}"):
        job = await harness.job(sent["command_id"], "failed")
    assert job.worker_id == f"w-{harness.unique}"
    assert "no heartbeat from trainer" in (job.error_message or "")


async def _progressed(harness: Harness, job_id: str) -> bool:
    return (await harness.jobs.get(job_id)).progress > 0


async def _committed(harness: Harness) -> bool:
    return await harness.consumed(TRAINER_GROUP, TRAINING_COMMANDS_TOPIC) == 1


async def test_sigterm_stops_the_running_job_and_exits_cleanly(
    harness: Harness, tiny_model: Path, tmp_path: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    sent = command("sft", model_id=base.id, config=FAST | {"max_steps": 5000})
    process = trainer_process(harness, tmp_path / "trainer.log")
    try:
        await harness.send(TRAINING_COMMANDS_TOPIC, sent)
        running = await harness.job(sent["command_id"], "running")
        await eventually(lambda: _progressed(harness, running.id), what="training steps")
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, (tmp_path / "trainer.log").read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
    job = await harness.jobs.get(running.id)
    assert job.status == "stopped"
    statuses = await harness.events(
        TRAINING_STATUS_TOPIC,
        lambda es: any(e.record["job_id"] == job.id and e.record["status"] == "stopped"
                       for e in es),
    )  # fmt: skip
    last = [e.record for e in statuses if e.record["job_id"] == job.id][-1]
    assert str(last["message"]).startswith("trainer shutting down")
    assert await harness.consumed(TRAINER_GROUP, TRAINING_COMMANDS_TOPIC) == 1
