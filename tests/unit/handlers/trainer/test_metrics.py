"""The trainer's metrics through one job: running, progress, its end."""

from __future__ import annotations

from tonebridge.handlers.methods.control import ProgressUpdate
from tonebridge.handlers.trainer.metrics import TrainerMetrics


def update(step: int, loss: float | None) -> ProgressUpdate:
    return ProgressUpdate(
        phase="train", step=step, total_steps=10, epoch=0.5, progress=step / 10, loss=loss,
        learning_rate=1e-3, eta_seconds=1.0, elapsed_seconds=1.0,
    )  # fmt: skip


def test_a_job_moves_the_counters_and_gauges() -> None:
    metrics = TrainerMetrics()
    value = metrics.registry.get_sample_value
    assert value("tonebridge_trainer_jobs_total", {"status": "completed"}) == 0
    metrics.started()
    metrics.progressed(update(4, 2.5))
    metrics.progressed(update(6, None))  # a report without a loss keeps the last one
    assert (value("tonebridge_trainer_step"), value("tonebridge_trainer_loss")) == (6, 2.5)
    assert value("tonebridge_trainer_job_running") == 1
    metrics.ended("completed", 12.0)
    metrics.idle()
    metrics.ended("failed")  # an orphan failed at start-up: no duration
    assert value("tonebridge_trainer_jobs_total", {"status": "running"}) == 1
    assert value("tonebridge_trainer_jobs_total", {"status": "completed"}) == 1
    assert value("tonebridge_trainer_jobs_total", {"status": "failed"}) == 1
    assert value("tonebridge_trainer_job_duration_seconds_sum", {"status": "completed"}) == 12
    assert value("tonebridge_trainer_job_duration_seconds_count", {"status": "failed"}) == 0
    assert value("tonebridge_trainer_job_running") == 0
