"""One job's life: pending -> running -> completed | failed | stopped.

:class:`JobRunner` turns a TrainingCommand into a job row (one per ``command_id``), runs
it with training in a worker thread, reports progress on the status topic and in the job
row, and ends it. Expected failures (bad command, API-only base model, a training error,
out of memory) end the job ``failed`` with the reason; failures of the database itself
propagate, leaving the command uncommitted for a later retry.

A command is checked against the input rules first (:mod:`~tonebridge.handlers.trainer.intake`):
a bad one raises, and the service dead-letters it and calls :meth:`JobRunner.reject`, which
fails the job the API may already have recorded for it, with the reason.

While a job runs, :meth:`JobRunner.keep_leases` refreshes its heartbeat; every trainer fails
the running jobs whose heartbeat is older than ``trainer_job_lease_s``, whichever worker ran
them (a killed trainer restarted under another name, a lost pod). They end ``failed``, not
pending again: a job never goes back, and the requester sees why and may send a new command.

A stop reaches a running job two ways: the control topic (:meth:`JobRunner.stop`) and the
row's ``stop_requested`` flag, read back on every progress write. Either sets the flag the
runner polls after each optimizer step; a stopped run registers nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from tonebridge.avro.codec import Record
from tonebridge.client.publisher import Publisher
from tonebridge.errors import (
    ConflictError,
    HandleError,
    IntegrityError,
    NotFoundError,
    TonebridgeError,
)
from tonebridge.handlers.datasets.files import (
    BuiltDataset,
    build_from_feedback,
    load_stored,
)
from tonebridge.handlers.methods.control import ProgressUpdate, TrainingResult
from tonebridge.handlers.methods.registry import runner_rows
from tonebridge.handlers.registry.store import Registry
from tonebridge.handlers.trainer import continual, outcome
from tonebridge.handlers.trainer.intake import check_training_command, printable
from tonebridge.handlers.trainer.metrics import TrainerMetrics
from tonebridge.handlers.trainer.plan import Plan, job_values, make_plan, parse_config
from tonebridge.handlers.trainer.progress import ProgressRelay
from tonebridge.observability.logs import bound
from tonebridge.retry import trainer_backoff
from tonebridge.rules import OPTIONAL_ID, check_text
from tonebridge.settings import Settings
from tonebridge.storage import (
    DatasetRepository,
    FeedbackRepository,
    ModelRepository,
    TrainingJobRepository,
)
from tonebridge.storage.records import FeedbackSelection, FinalJobStatus, TrainingJobRecord
from tonebridge.storage.types import utc_now
from tonebridge.topics.training import (
    POLICY_REQUESTER,
    TRAINING_STATUS_TOPIC,
    job_id_for,
    training_status,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainerContext:
    """What every job of one trainer process shares."""

    settings: Settings
    worker_id: str
    jobs: TrainingJobRepository
    models: ModelRepository
    datasets: DatasetRepository
    feedback: FeedbackRepository
    registry: Registry
    events: Publisher
    work_dir: Path
    metrics: TrainerMetrics = field(default_factory=TrainerMetrics)


@dataclass
class RunningJob:
    job_id: str
    command_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    why: str = "stop requested"
    taken_at: float = field(default_factory=time.monotonic)

    def request_stop(self, why: str) -> None:
        if not self.stop.is_set():
            self.why = why
            self.stop.set()


class JobRunner:
    def __init__(self, ctx: TrainerContext) -> None:
        self.ctx = ctx
        self.current: RunningJob | None = None
        self.hub_token = ctx.settings.huggingface_token  # for evaluation's model loads

    # --- entry points --------------------------------------------------------------------

    async def recover(self) -> list[str]:
        """Fail the jobs this worker left running when it died, and every expired one."""
        reason = f"trainer {self.ctx.worker_id} restarted while the job was running"
        failed = await self.ctx.jobs.fail_orphans(self.ctx.worker_id, reason)
        await self._announce_failed(failed, reason)
        return failed + await self.fail_expired()

    async def fail_expired(self) -> list[str]:
        """Fail running jobs whose heartbeat is older than the lease; returns their ids."""
        lease_s = self.ctx.settings.trainer_job_lease_s
        reason = (
            f"no heartbeat from trainer for more than {lease_s:.0f}s: it died while the job "
            f"was running (found by trainer {self.ctx.worker_id})"
        )
        failed = await self.ctx.jobs.fail_expired(utc_now() - timedelta(seconds=lease_s), reason)
        if failed:
            log.warning("failed %d job(s) with an expired lease: %s", len(failed), failed)
        await self._announce_failed(failed, reason)
        return failed

    async def keep_leases(self) -> None:
        """Refresh the running job's heartbeat and fail expired jobs; never raises."""
        try:
            current = self.current
            if current is not None and not await self.ctx.jobs.beat(
                current.job_id, self.ctx.worker_id
            ):
                current.request_stop("job lease lost: the job is no longer running here")
            await self.fail_expired()
        except Exception as exc:  # noqa: BLE001 - the next beat tries again
            log.warning("heartbeat or lease check failed: %r", exc)

    async def _announce_failed(self, job_ids: list[str], reason: str) -> None:
        for job_id in job_ids:
            self.ctx.metrics.ended("failed")
            job = await self.ctx.jobs.get(job_id)
            await self._status(job.id, job.command_id, "failed", message=reason)

    async def reject(self, command: Record, error: BaseException) -> None:
        """A dead-lettered command: its job, if one exists for it, ends failed with why."""
        try:
            job_id = check_text(job_id_for(command), "job_id", OPTIONAL_ID)
            if job_id is None or command.get("kind") == "stop":
                return
            job = await self.ctx.jobs.get(job_id)
            if job.command_id == command.get("command_id") and not job.finished:
                reason = printable(f"command rejected: {error}")
                await self._end(job, "failed", error=reason)
        except Exception as exc:  # noqa: BLE001 - the dead letter holds the reason anyway
            log.info("no job failed for rejected command %s: %r", command.get("command_id"), exc)

    async def on_command(self, command: Record) -> None:
        """Handle a TrainingCommand from the commands topic (a ``stop`` is forwarded)."""
        with bound(command_id=command.get("command_id"), event_id=command.get("event_id")):
            await self._on_command(command)

    async def _on_command(self, command: Record) -> None:
        check_training_command(command)
        if command["kind"] == "stop":
            await self.stop(command.get("job_id"))
            return
        job = await self._job_for(command)
        if job is None:
            return
        if job.status != "pending":
            log.info("command %s: job %s is %s, skipped", job.command_id, job.id, job.status)
            return
        await self._run(job, command)

    async def stop(self, job_id: str | None) -> None:
        """Stop ``job_id``: the running one here at once, a pending one in the database."""
        if not job_id:
            return
        current = self.current
        if current is not None and current.job_id == job_id:
            current.request_stop("stop requested")
        try:
            await self.ctx.jobs.request_stop(job_id)
        except (NotFoundError, ConflictError) as exc:
            log.info("stop of %s ignored: %s", job_id, exc)

    def stop_current(self) -> None:
        """Shutdown: the running job ends ``stopped`` at its next step.

        A job cannot go back to pending, so a restarted trainer would skip it anyway: it
        ends ``stopped`` with the reason, and the requester may send a new command.
        """
        if self.current is not None:
            self.current.request_stop("trainer shutting down")

    # --- one job -------------------------------------------------------------------------

    async def _job_for(self, command: Record) -> TrainingJobRecord | None:
        """The job for the command; one that cannot even be described is made and failed."""
        values = job_values(command)
        try:
            values["config"] = parse_config(command.get("config_json") or "{}")
            job, _ = await self.ctx.jobs.create_from_command(**values)
            return job
        except (IntegrityError, HandleError) as exc:
            bare = values | {"dataset_id": None, "parent_model_id": None, "config": {}}
            job, created = await self.ctx.jobs.create_from_command(**bare)
            if created or job.status == "pending":
                await self._end(job, "failed", error=str(exc))
            return None

    async def _run(self, job: TrainingJobRecord, command: Record) -> None:
        self.current = RunningJob(job.id, job.command_id)
        try:
            with bound(job_id=job.id):  # the training thread's lines carry it too
                await self._run_planned(job, command, self.current)
        except ConflictError as exc:  # stopped or claimed elsewhere meanwhile
            log.info("job %s: %s", job.id, exc)
        except (HandleError, NotFoundError) as exc:
            await self._end(job, "failed", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - torch, trl, MLflow: the job fails with why
            log.exception("job %s failed", job.id)
            await self._end(job, "failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self.current = None
            self.ctx.metrics.idle()

    async def _run_planned(
        self, job: TrainingJobRecord, command: Record, running: RunningJob
    ) -> None:
        plan = await make_plan(self.ctx.models, job, command)
        started = await self.ctx.jobs.mark_running(job.id, self.ctx.worker_id)
        self.ctx.metrics.started()
        await self._status(job.id, job.command_id, "running", message=self.ctx.worker_id)
        job_dir = self.ctx.work_dir / "jobs" / job.id
        data = await self._dataset(plan, command, job_dir / "data")
        if plan.kind == "evaluate":
            metrics = await asyncio.to_thread(
                outcome.evaluate_models_sync, self.ctx.registry, plan, data, self.hub_token
            )
            await self._end(started, "completed", metrics=metrics)
            return
        result = await self._train(plan, data, job_dir / "run", running)
        await self._conclude(plan, data, result, running.why)

    async def _await_feedback(self, command: Record) -> None:
        """Wait (bounded) until the feedback event that fired ``command`` is stored.

        A retraining policy fires on the stream, at the event time of the newest feedback
        it had seen; the database sink stores the same events in its own consumer group and
        can be moments behind (at start-up it is still joining its group). Without waiting
        the dataset could miss the very corrections that fired the command, or be empty.
        """
        model_id, since = command.get("model_id"), command.get("feedback_since")
        fired = str(command.get("requested_by") or "").startswith(POLICY_REQUESTER)
        if not fired or not model_id or since is None:
            return  # not a policy's command over recent feedback
        fired_at = command["event_time"]
        selection = FeedbackSelection(model_id=model_id, since=since, corrections_only=False)
        wait_s = self.ctx.settings.trainer_feedback_wait_s
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            last = (await self.ctx.feedback.lineage(selection)).last_event_time
            if last is not None and last >= fired_at:
                return
            if asyncio.get_running_loop().time() >= deadline:
                log.warning(
                    "feedback of %s up to %s not stored after %.0fs; building from what is",
                    model_id,
                    fired_at.isoformat(),
                    wait_s,
                )
                return
            await asyncio.sleep(0.2)

    async def _dataset(self, plan: Plan, command: Record, out_dir: Path) -> BuiltDataset:
        if plan.job.dataset_id:
            return await load_stored(
                self.ctx.datasets,
                plan.job.dataset_id,
                fmt=plan.format,
                out_dir=out_dir,
                limits=plan.limits,
            )
        await self._await_feedback(command)
        selection = FeedbackSelection(
            model_id=command.get("model_id"),
            since=command.get("feedback_since"),
            until=utc_now(),
            corrections_only=plan.format in ("sft", "dpo"),
        )
        replay = await continual.replayed(
            self.ctx.feedback, self.ctx.models, self.ctx.jobs, selection,
            fraction=continual.replay_share(plan, self.ctx.settings.replay_fraction),
            seed=int(plan.options.get("seed", 42)),
        )  # fmt: skip
        return await build_from_feedback(
            self.ctx.feedback,
            self.ctx.datasets,
            fmt=plan.format,
            selection=selection,
            out_dir=out_dir,
            name=f"{plan.kind}-{plan.job.id}",
            limits=plan.limits,
            replay=replay,
        )

    async def _train(
        self, plan: Plan, data: BuiltDataset, output_dir: Path, running: RunningJob
    ) -> TrainingResult:
        from tonebridge.handlers.methods.dispatch import make_config, run_training
        from tonebridge.handlers.methods.distributed import Parallelism
        from tonebridge.handlers.methods.tracking import Tracking

        config = make_config(plan.kind, plan.base_model, plan.options, settings=self.ctx.settings)
        tracking = Tracking.from_settings(self.ctx.settings, f"{plan.kind}-{plan.job.id}")
        rows = runner_rows(plan.kind, data.train)
        start = await continual.start_adapter(self.ctx.registry, plan, output_dir / "parent")
        relay = ProgressRelay(asyncio.get_running_loop(), self._progress_writer(running))
        try:
            result = await asyncio.to_thread(
                run_training,
                plan.kind,
                config,
                rows,
                output_dir=output_dir,
                progress=relay.sink,
                should_stop=running.stop,
                tracking=tracking,
                parallel=Parallelism.from_settings(self.ctx.settings),
                start_adapter=start,
            )
        finally:
            await relay.close()
        continued = {"continued_parent": float(start is not None), "replayed": float(data.replayed)}
        return replace(result, metrics={**result.metrics, **continued})

    def _progress_writer(self, running: RunningJob) -> Any:
        async def write(update: ProgressUpdate) -> None:
            self.ctx.metrics.progressed(update)
            metrics = {"step": update.step, "total_steps": update.total_steps, "loss": update.loss}
            job = await self.ctx.jobs.update_progress(
                running.job_id, min(max(update.progress, 0.0), 1.0), metrics
            )
            if job.stop_requested:
                running.request_stop("stop requested")
            await self._status(
                running.job_id, running.command_id, "running", message=update.phase,
                step=update.step, total_steps=update.total_steps, epoch=update.epoch,
                progress=update.progress, loss=update.loss,
                learning_rate=update.learning_rate, eta_seconds=update.eta_seconds,
            )  # fmt: skip

        return write

    async def _conclude(
        self, plan: Plan, data: BuiltDataset, result: TrainingResult, why: str
    ) -> None:
        metrics = dict(result.metrics)
        if result.status == "stopped" or result.adapter_dir is None:
            message = f"{why}: stopped at step {result.steps} of {result.total_steps}"
            await self._end(plan.job, "stopped", metrics=metrics, message=message)
            return
        metrics |= await asyncio.to_thread(
            outcome.evaluate_sync, self.ctx.registry, plan, result.adapter_dir, data,
            self.hub_token,
        )  # fmt: skip
        done = await outcome.register(
            self.ctx.registry, self.ctx.models, self.ctx.events, plan, data,
            result.adapter_dir, metrics, backoff=trainer_backoff(self.ctx.settings),
            history=result.history, rank=self.ctx.settings.rank,
        )  # fmt: skip
        message = f"registered {done.model.name} v{done.model.version} as {done.model.id}"
        metrics_out = {**metrics, "model_version": float(done.model.version)}
        await self._end(plan.job, "completed", metrics=metrics_out, message=message)

    # --- reporting -----------------------------------------------------------------------

    async def _end(
        self,
        job: TrainingJobRecord,
        status: FinalJobStatus,
        *,
        metrics: dict[str, Any] | None = None,
        error: str | None = None,
        message: str | None = None,
    ) -> None:
        try:
            error = printable(error) if error is not None else None
            ended = await self.ctx.jobs.finish(job.id, status, metrics=metrics, error=error)
        except ConflictError as exc:  # ended meanwhile (a stop of a pending job)
            log.info("job %s not marked %s: %s", job.id, status, exc)
            return
        log.info("job %s %s %s", job.id, status, error or message or "")
        self.ctx.metrics.ended(status, self._seconds_since_taken(job.id))
        await self._status(
            ended.id, ended.command_id, status, message=error or message,
            metrics=ended.metrics, progress=ended.progress,
        )  # fmt: skip

    def _seconds_since_taken(self, job_id: str) -> float | None:
        current = self.current
        if current is None or current.job_id != job_id:
            return None  # ended without running here (a rejected or undescribable command)
        return time.monotonic() - current.taken_at

    async def _status(self, job_id: str, command_id: str, status: str, **fields: Any) -> None:
        record = training_status(job_id, command_id, status, **fields)
        try:
            await self.ctx.events.publish(TRAINING_STATUS_TOPIC, record)
        except TonebridgeError as exc:  # the job row holds the truth; events are news
            log.warning("status event for job %s not sent: %s", job_id, exc)
