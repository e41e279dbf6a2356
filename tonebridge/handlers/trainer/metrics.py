"""The trainer's Prometheus metrics: its jobs and the progress of the one it runs.

* ``tonebridge_trainer_jobs_total{status}``: jobs this trainer moved to ``running``,
  ``completed``, ``failed`` or ``stopped`` (orphans and expired leases it failed included);
* ``tonebridge_trainer_job_running``: 1 while a job runs here, else 0;
* ``tonebridge_trainer_job_duration_seconds{status}``: from taking a command to the job's end;
* ``tonebridge_trainer_step``, ``tonebridge_trainer_total_steps``, ``tonebridge_trainer_loss``:
  the running job's last progress report (one job at a time, so no job label: job ids would
  make a series per job for ever).
"""

from __future__ import annotations

from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tonebridge.handlers.methods.control import ProgressUpdate
from tonebridge.observability.server import process_registry
from tonebridge.storage.records import JobStatus

STATUSES = tuple(s for s in get_args(JobStatus) if s != "pending")
_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200)


class TrainerMetrics:
    """The metrics of one trainer process, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry or process_registry()
        self.jobs = Counter(
            "tonebridge_trainer_jobs", "Jobs moved to a status here.", ["status"], registry=registry
        )
        for status in STATUSES:  # every series from the start: a rate over a new one is empty
            self.jobs.labels(status)
        self.running = Gauge(
            "tonebridge_trainer_job_running", "1 while a job runs.", registry=registry
        )
        self.duration = Histogram(
            "tonebridge_trainer_job_duration_seconds", "From a job's command taken to its end.",
            ["status"], buckets=_DURATION_BUCKETS, registry=registry,
        )  # fmt: skip
        for status in STATUSES[1:]:
            self.duration.labels(status)
        self.step = Gauge("tonebridge_trainer_step", "The running job's step.", registry=registry)
        self.total_steps = Gauge(
            "tonebridge_trainer_total_steps", "The running job's planned steps.", registry=registry
        )
        self.loss = Gauge(
            "tonebridge_trainer_loss", "The running job's last training loss.", registry=registry
        )

    def started(self) -> None:
        self.jobs.labels("running").inc()
        self.running.set(1)
        for gauge in (self.step, self.total_steps, self.loss):
            gauge.set(0)

    def ended(self, status: str, seconds: float | None = None) -> None:
        """A job ended here; ``seconds`` since this trainer took its command, if it did."""
        self.jobs.labels(status).inc()
        if seconds is not None:
            self.duration.labels(status).observe(seconds)

    def idle(self) -> None:
        self.running.set(0)

    def progressed(self, update: ProgressUpdate) -> None:
        self.step.set(update.step)
        self.total_steps.set(update.total_steps)
        if update.loss is not None:
            self.loss.set(update.loss)
