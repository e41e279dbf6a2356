"""The records a trainer emits: TrainingStatus, ModelRegistered, ModelChanged (pure)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tonebridge.avro.codec import Record
from tonebridge.handlers.datasets.formats import Lineage


def header(event_time: datetime | None = None) -> Record:
    """A fresh event id and the time the event happened here (UTC)."""
    return {"event_id": str(uuid.uuid4()), "event_time": event_time or datetime.now(UTC)}


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics dict (Avro maps of double take nothing else)."""
    return {
        str(k): float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def training_status(
    job_id: str,
    command_id: str,
    status: str,
    *,
    message: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    **progress: Any,
) -> Record:
    """A TrainingStatus; ``progress`` holds step, total_steps, epoch, progress, loss, ..."""
    record: Record = {
        **header(),
        "job_id": job_id,
        "command_id": command_id,
        "status": status,
        "message": message,
        "metrics": numeric_metrics(metrics or {}),
    }
    known = ("step", "total_steps", "epoch", "progress", "loss", "learning_rate", "eta_seconds")
    record.update({k: v for k, v in progress.items() if k in known and v is not None})
    return record


def model_registered(
    *,
    model_id: str,
    name: str,
    version: str,
    base_model: str,
    model_type: str,
    job_id: str,
    artifact_uri: str,
    dataset_id: str | None,
    lineage: Lineage,
    metrics: Mapping[str, Any],
    mlflow_run_id: str | None,
) -> Record:
    """ModelRegistered, with the dataset and feedback event range it was trained on."""
    return {
        **header(),
        "model_id": model_id,
        "name": name,
        "version": version,
        "base_model": base_model,
        "model_type": model_type,
        "job_id": job_id,
        "dataset_id": dataset_id,
        "feedback_from": lineage.feedback_from,
        "feedback_to": lineage.feedback_to,
        "feedback_count": lineage.feedback_count,
        "metrics": numeric_metrics(metrics),
        "artifact_uri": artifact_uri,
        "mlflow_run_id": mlflow_run_id,
    }


def model_changed(
    *,
    model_id: str,
    name: str,
    version: str,
    change: str,
    artifact_uri: str,
    base_model: str,
    previous_model_id: str | None = None,
    reason: str | None = None,
    alias: str = "production",
) -> Record:
    """ModelChanged: ``change`` is deployed, rolled_back or archived."""
    return {
        **header(),
        "model_id": model_id,
        "name": name,
        "version": version,
        "change": change,
        "alias": alias,
        "previous_model_id": previous_model_id,
        "artifact_uri": artifact_uri,
        "base_model": base_model,
        "reason": reason,
    }
