"""After a run: evaluate on the held-out split, log to MLflow, register, announce.

The MLflow run gets the job's params, its datasets, the adapter, every step the trainer
logged (loss, learning rate, ... with their step numbers) and the final metrics at the
last step.

Evaluation and MLflow calls block (torch, MLflow's sync client): callers run the ``*_sync``
functions with ``asyncio.to_thread``.

Only the trainer process registers, never a rank of a distributed run other than 0:
:func:`register` refuses (``rank``) before it touches MLflow.

Registration is idempotent per job. Its three steps (MLflow version, ``models`` row,
ModelRegistered) are retried together while a step fails transiently: a retry finds the
version the job already made (by its ``job_id`` tag) instead of making a second one; the row
and the event have ids derived from the job. When registration gives up (a permanent failure,
or the retry bound), the version and the draft row are removed, so no version is left that
no row or event announces; the job then ends ``failed``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tonebridge.avro.codec import Record
from tonebridge.client.publisher import Publisher
from tonebridge.errors import TrainingError
from tonebridge.handlers.datasets.files import BuiltDataset, lineage_dict
from tonebridge.handlers.evaluation import Evaluation, compare, evaluate_model, held_out
from tonebridge.handlers.methods.control import LoggedStep
from tonebridge.handlers.registry.store import RegisteredVersion, Registry, flatten_params
from tonebridge.handlers.trainer.plan import Plan
from tonebridge.retry import Backoff, retrying
from tonebridge.storage import ModelRepository
from tonebridge.storage.records import ModelRecord
from tonebridge.topics.models import MODEL_EVENTS_TOPIC, MODEL_REGISTERED, model_registered
from tonebridge.topics.spec import numeric_metrics

log = logging.getLogger(__name__)
_MODEL_IDS = uuid.UUID("8a0f3c52-41d6-4f0e-a2a5-6c1f4e5b9d21")
# Called once the MLflow version exists, before the row and the event: a seam for tests.
Checkpoint = Callable[[RegisteredVersion], Awaitable[None]]


def model_id_for(job_id: str) -> str:
    """The model a job registers has an id derived from the job: a retry cannot add two."""
    return uuid.uuid5(_MODEL_IDS, job_id).hex


@dataclass(frozen=True)
class Registration:
    model: ModelRecord
    version: RegisteredVersion
    run_id: str


def model_source(registry: Registry, model: ModelRecord) -> tuple[str, Path | None]:
    """(base model, local adapter folder or None) to load ``model`` for evaluation."""
    if model.adapter is not None:
        return model.base_model, registry.local_path(model.adapter)
    return model.path or model.base_model, None


def evaluate_sync(
    registry: Registry,
    plan: Plan,
    adapter_dir: Path | None,
    data: BuiltDataset,
    token: SecretStr | None = None,
) -> dict[str, float]:
    """Candidate metrics on the held-out split, and its comparison with the baseline.

    ``token``: the Hugging Face token, for base models on the hub that need one.
    """
    held = held_out(data.format, data.validation)
    if not len(held):
        return {}
    candidate = evaluate_model(plan.base_model, adapter_dir, held, plan.eval_config, token=token)
    return candidate.metrics | _versus_baseline(registry, plan, candidate, held, token)


def evaluate_models_sync(
    registry: Registry, plan: Plan, data: BuiltDataset, token: SecretStr | None = None
) -> dict[str, float]:
    """An ``evaluate`` command: the named model (plan.parent) against the optional baseline."""
    held = held_out(data.format, data.validation + data.train)
    if plan.parent is None or not len(held):
        return {}
    base, adapter = model_source(registry, plan.parent)
    candidate = evaluate_model(base, adapter, held, plan.eval_config, token=token)
    return candidate.metrics | _versus_baseline(registry, plan, candidate, held, token)


def _versus_baseline(
    registry: Registry, plan: Plan, candidate: Evaluation, held: Any, token: SecretStr | None
) -> dict[str, float]:
    if plan.baseline is None or not candidate.references:
        return {}
    base, adapter = model_source(registry, plan.baseline)
    baseline = evaluate_model(base, adapter, held, plan.eval_config, token=token)
    comparison = compare(candidate, baseline, plan.eval_config)
    prefixed = {f"baseline_{k}": v for k, v in baseline.metrics.items()}
    verdict = {"candidate": 1.0, "tie": 0.0, "baseline": -1.0}[comparison.verdict]
    return prefixed | comparison.metrics() | {"vs_baseline_verdict": verdict}


def log_and_register_sync(
    registry: Registry,
    plan: Plan,
    data: BuiltDataset,
    adapter_dir: Path,
    metrics: dict[str, float],
    history: Sequence[LoggedStep] = (),
) -> tuple[RegisteredVersion, str]:
    """One MLflow run with params, per-step and final metrics, datasets and adapter; a version
    on the adapter."""
    params = {"kind": plan.kind, "base_model": plan.base_model, **plan.options}
    tags = {"job_id": plan.job.id, "command_id": plan.command_id, "kind": plan.kind}
    run_id = registry.start_run(f"{plan.kind}-{plan.job.id[:8]}", params, tags)
    try:
        for context, path in (("training", data.train_path), ("validation", data.validation_path)):
            name = f"{data.dataset_id}-{context}"
            registry.log_dataset(run_id, path, name=name, context=context, lineage=data.lineage)
        registry.log_training(run_id, history, metrics)
        source = registry.log_adapter(run_id, adapter_dir)
    except BaseException:
        registry.end_run(run_id, "FAILED")
        raise
    registry.end_run(run_id)
    version_tags = flatten_params({**tags, "base_model": plan.base_model, **_lineage_tags(data)})
    return registry.register_version(plan.name, source, run_id, version_tags), run_id


def _lineage_tags(data: BuiltDataset) -> dict[str, Any]:
    lineage = {k: v for k, v in lineage_dict(data.lineage).items() if v is not None}
    return {"dataset_id": data.dataset_id, **lineage}


@dataclass(frozen=True)
class Registrar:
    """Registers one job's adapter: in MLflow, in ``models``, on the events topic."""

    registry: Registry
    models: ModelRepository
    events: Publisher
    plan: Plan
    data: BuiltDataset
    checkpoint: Checkpoint | None = None
    history: Sequence[LoggedStep] = ()

    def version_sync(self, adapter_dir: Path, metrics: dict[str, float]) -> RegisteredVersion:
        """The job's MLflow version: the one an earlier try made, else a new one."""
        found = self.registry.job_version(self.plan.name, self.plan.job.id)
        if found is not None:
            return found
        version, _ = log_and_register_sync(
            self.registry, self.plan, self.data, adapter_dir, metrics, self.history
        )
        return version

    async def once(self, adapter_dir: Path, metrics: dict[str, float]) -> Registration:
        version = await asyncio.to_thread(self.version_sync, adapter_dir, metrics)
        if self.checkpoint is not None:
            await self.checkpoint(version)
        model = await self._row(version, metrics)
        record = self._registered(model, version, metrics)
        await self.events.publish(MODEL_EVENTS_TOPIC, record, schema=MODEL_REGISTERED)
        return Registration(model, version, version.run_id or "")

    def _registered(
        self, model: ModelRecord, version: RegisteredVersion, metrics: dict[str, float]
    ) -> Record:
        """The ModelRegistered event of ``model``; its id is the model's (a retry repeats it)."""
        lineage = self.data.lineage
        return model_registered(
            model_id=model.id, name=model.name, version=model.version,
            base_model=model.base_model, model_type=model.model_type, job_id=self.plan.job.id,
            artifact_uri=version.source, dataset_id=self.data.dataset_id,
            feedback_from=lineage.feedback_from, feedback_to=lineage.feedback_to,
            feedback_count=lineage.feedback_count, metrics=metrics,
            mlflow_run_id=version.run_id, event_id=model.id,
        )  # fmt: skip

    async def _row(self, version: RegisteredVersion, metrics: dict[str, float]) -> ModelRecord:
        return await self.models.add(
            name=self.plan.name,
            version=version.version,
            model_type=self.plan.model_type,
            base_model=self.plan.base_model,
            path=version.source,
            training_job_id=self.plan.job.id,
            metrics=numeric_metrics(metrics),
            mlflow_run_id=version.run_id,
            lineage={"dataset_id": self.data.dataset_id, **lineage_dict(self.data.lineage)},
            model_id=model_id_for(self.plan.job.id),
        )

    async def undo(self) -> None:
        """Remove what a failed registration left: the draft row, then the version."""
        try:
            await self.models.discard_draft(model_id_for(self.plan.job.id))
            found = await asyncio.to_thread(
                self.registry.job_version, self.plan.name, self.plan.job.id
            )
            if found is not None:
                await asyncio.to_thread(self.registry.delete_version, found.name, found.version)
        except Exception:  # noqa: BLE001 - the job fails anyway; say what is left over
            log.exception("job %s: its partial registration could not be removed", self.plan.job.id)


def require_main_process(rank: int) -> None:
    """A rank other than 0 of a distributed run trained a replica: it must not register."""
    if rank != 0:
        msg = f"rank {rank} of a distributed run does not register models; rank 0 does"
        raise TrainingError(msg)


async def register(
    registry: Registry,
    models: ModelRepository,
    events: Publisher,
    plan: Plan,
    data: BuiltDataset,
    adapter_dir: Path,
    metrics: dict[str, float],
    *,
    backoff: Backoff | None = None,
    checkpoint: Checkpoint | None = None,
    history: Sequence[LoggedStep] = (),
    rank: int = 0,
) -> Registration:
    """Log and register in MLflow, add the draft ``models`` row, emit ModelRegistered.

    ``history``: the steps the trainer logged, MLflow metrics with their step numbers.
    Retried while a step fails transiently (``backoff``); on giving up, undone and raised.
    ``rank``: this process's rank in a distributed run; only rank 0 registers.
    """
    require_main_process(rank)
    registrar = Registrar(registry, models, events, plan, data, checkpoint, history)

    async def once() -> Registration:
        return await registrar.once(adapter_dir, metrics)

    try:
        return await retrying(
            once, f"registration of job {plan.job.id}", backoff or Backoff(0.2, 30.0, 8)
        )
    except BaseException:
        await registrar.undo()
        raise
