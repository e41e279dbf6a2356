"""A real trainer process serves /metrics and /healthz on --metrics-port: the running job's
step and loss, then its end by status and duration; with --log-json its lines carry the
job's ids."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.support.metrics import (
    PROMETHEUS,
    Exposition,
    free_port,
    health,
    prometheus_scrapes,
    scrape,
)
from tests.support.trainer import FAST, Harness, command, eventually, trainer_process
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC, TRAINING_CONTROL_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FAMILIES = {
    "tonebridge_trainer_jobs", "tonebridge_trainer_job_running",
    "tonebridge_trainer_job_duration_seconds", "tonebridge_trainer_step",
    "tonebridge_trainer_total_steps", "tonebridge_trainer_loss",
    "process_cpu_seconds", "process_resident_memory_bytes", "python_info",
}  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_trainer_serves_metrics_of_its_job(
    harness: Harness, tiny_model: Path, tmp_path: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    sent = command("sft", model_id=base.id, config=FAST | {"max_steps": 5000})
    port, log = free_port(), tmp_path / "trainer.log"
    process = trainer_process(harness, log, "--metrics-port", str(port), "--log-json")
    try:
        await eventually(lambda: _status(port, 200), what="the trainer's /healthz")
        first = await scrape(port)
        assert first is not None and FAMILIES <= set(first.families)
        assert first.value("tonebridge_trainer_job_running") == 0

        await harness.send(TRAINING_COMMANDS_TOPIC, sent)
        running = await harness.job(sent["command_id"], "running")
        training = await eventually(lambda: _training(port), what="step and loss on /metrics")
        assert training.value("tonebridge_trainer_jobs_total", status="running") == 1
        assert training.value("tonebridge_trainer_total_steps") == 5000

        await harness.send(TRAINING_CONTROL_TOPIC, command("stop", job_id=running.id))
        ended = await eventually(lambda: _stopped(port), what="the stopped job on /metrics")
        assert ended.value("tonebridge_trainer_job_running") == 0
        assert ended.value("tonebridge_trainer_jobs_total", status="completed") == 0
        seconds = ended.value("tonebridge_trainer_job_duration_seconds_sum", status="stopped")
        assert seconds is not None and seconds > 0
        if PROMETHEUS is not None:  # Debian's prometheus, where installed: a real scrape
            assert await prometheus_scrapes(port, tmp_path)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    # Only what goes through logging is JSON (a library may print, or warn on stderr).
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    [end] = [e for e in lines if e["message"].startswith(f"job {running.id} stopped")]
    assert (end["job_id"], end["command_id"]) == (running.id, sent["command_id"])


async def _status(port: int, expected: int) -> bool:
    return await health(port) == expected


async def _training(port: int) -> Exposition | None:
    found = await scrape(port)
    if found is None or found.value("tonebridge_trainer_job_running") != 1:
        return None
    step, loss = found.value("tonebridge_trainer_step"), found.value("tonebridge_trainer_loss")
    return found if (step or 0) > 0 and (loss or 0) > 0 else None


async def _stopped(port: int) -> Exposition | None:
    found = await scrape(port)
    if found is None:
        return None
    done = found.value("tonebridge_trainer_job_duration_seconds_count", status="stopped")
    return (
        found
        if found.value("tonebridge_trainer_jobs_total", status="stopped") == 1 and done == 1
        else None
    )
