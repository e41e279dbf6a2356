"""After a run: evaluate on the held-out split, log to MLflow, register, announce.

Evaluation and MLflow calls block (torch, MLflow's sync client): callers run the ``*_sync``
functions with ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tonebridge.handlers.dataset_store import BuiltDataset, lineage_dict
from tonebridge.handlers.evaluation import Evaluation, compare, evaluate_model, held_out
from tonebridge.handlers.registry import RegisteredVersion, Registry, flatten_params
from tonebridge.handlers.trainer.events import model_registered, numeric_metrics
from tonebridge.handlers.trainer.plan import Plan
from tonebridge.handlers.trainer.publish import EventSink
from tonebridge.storage import ModelRepository
from tonebridge.storage.records import ModelRecord
from tonebridge.topics.models import MODEL_EVENTS_TOPIC, MODEL_REGISTERED

_MODEL_IDS = uuid.UUID("8a0f3c52-41d6-4f0e-a2a5-6c1f4e5b9d21")


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
    if model.mlflow_run_id is not None:
        return model.base_model, registry.local_path(model.path)
    return model.path or model.base_model, None


def evaluate_sync(
    registry: Registry, plan: Plan, adapter_dir: Path | None, data: BuiltDataset
) -> dict[str, float]:
    """Candidate metrics on the held-out split, and its comparison with the baseline."""
    held = held_out(data.format, data.validation)
    if not len(held):
        return {}
    candidate = evaluate_model(plan.base_model, adapter_dir, held, plan.eval_config)
    return candidate.metrics | _versus_baseline(registry, plan, candidate, held)


def evaluate_models_sync(registry: Registry, plan: Plan, data: BuiltDataset) -> dict[str, float]:
    """An ``evaluate`` command: the named model (plan.parent) against the optional baseline."""
    held = held_out(data.format, data.validation + data.train)
    if plan.parent is None or not len(held):
        return {}
    base, adapter = model_source(registry, plan.parent)
    candidate = evaluate_model(base, adapter, held, plan.eval_config)
    return candidate.metrics | _versus_baseline(registry, plan, candidate, held)


def _versus_baseline(
    registry: Registry, plan: Plan, candidate: Evaluation, held: Any
) -> dict[str, float]:
    if plan.baseline is None or not candidate.references:
        return {}
    base, adapter = model_source(registry, plan.baseline)
    baseline = evaluate_model(base, adapter, held, plan.eval_config)
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
) -> tuple[RegisteredVersion, str]:
    """One MLflow run with params, metrics, datasets and adapter; a version on the adapter."""
    params = {"kind": plan.kind, "base_model": plan.base_model, **plan.options}
    tags = {"job_id": plan.job.id, "command_id": plan.command_id, "kind": plan.kind}
    run_id = registry.start_run(f"{plan.kind}-{plan.job.id[:8]}", params, tags)
    try:
        for context, path in (("training", data.train_path), ("validation", data.validation_path)):
            name = f"{data.dataset_id}-{context}"
            registry.log_dataset(run_id, path, name=name, context=context, lineage=data.lineage)
        registry.log_metrics(run_id, metrics)
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


async def register(
    registry: Registry,
    models: ModelRepository,
    events: EventSink,
    plan: Plan,
    data: BuiltDataset,
    adapter_dir: Path,
    metrics: dict[str, float],
) -> Registration:
    """Log and register in MLflow, add the draft ``models`` row, emit ModelRegistered."""
    version, run_id = await asyncio.to_thread(
        log_and_register_sync, registry, plan, data, adapter_dir, metrics
    )
    model = await models.add(
        name=plan.name,
        version=version.version,
        model_type=plan.model_type,
        base_model=plan.base_model,
        path=version.source,
        training_job_id=plan.job.id,
        metrics=numeric_metrics(metrics),
        mlflow_run_id=run_id,
        lineage={"dataset_id": data.dataset_id, **lineage_dict(data.lineage)},
        model_id=model_id_for(plan.job.id),
    )
    record = model_registered(
        model_id=model.id,
        name=model.name,
        version=model.version,
        base_model=model.base_model,
        model_type=model.model_type,
        job_id=plan.job.id,
        artifact_uri=version.source,
        dataset_id=data.dataset_id,
        lineage=data.lineage,
        metrics=metrics,
        mlflow_run_id=run_id,
    )
    await events.publish(MODEL_EVENTS_TOPIC, record, MODEL_REGISTERED)
    return Registration(model, version, run_id)
