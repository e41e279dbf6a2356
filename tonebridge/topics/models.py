"""Model lifecycle: registry events and commands to the registry.

ModelRegistered and ModelChanged share ``tonebridge.models.events.v1``, keyed by registered
model name, so a watcher sees a model's registrations and deployments in the order they happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tonebridge.avro.codec import Record
from tonebridge.topics.spec import TopicSpec, event_header, field, numeric_metrics

MODEL_REGISTERED = "ModelRegistered"
MODEL_CHANGED = "ModelChanged"
MODEL_COMMAND = "ModelCommand"

MODEL_EVENTS_TOPIC = TopicSpec(
    "tonebridge.models.events.v1", (MODEL_REGISTERED, MODEL_CHANGED), field("name")
)
MODEL_COMMANDS_TOPIC = TopicSpec(
    "tonebridge.models.commands.v1", (MODEL_COMMAND,), field("model_id")
)


def model_command(
    *,
    command_id: str,
    action: str,
    model_id: str,
    requested_by: str,
    reason: str | None = None,
    event_id: str | None = None,
    event_time: datetime | None = None,
) -> Record:
    """A ModelCommand: ``action`` is deploy, rollback or archive."""
    return {
        **event_header(event_id, event_time),
        "command_id": command_id,
        "action": action,
        "model_id": model_id,
        "requested_by": requested_by,
        "reason": reason,
    }


def model_registered(
    *,
    model_id: str,
    name: str,
    version: str,
    base_model: str,
    model_type: str,
    job_id: str,
    artifact_uri: str,
    dataset_id: str | None = None,
    feedback_from: datetime | None = None,
    feedback_to: datetime | None = None,
    feedback_count: int = 0,
    metrics: Mapping[str, Any] | None = None,
    mlflow_run_id: str | None = None,
    event_id: str | None = None,
    event_time: datetime | None = None,
) -> Record:
    """ModelRegistered, with the dataset and feedback event range it was trained on."""
    return {
        **event_header(event_id, event_time),
        "model_id": model_id,
        "name": name,
        "version": version,
        "base_model": base_model,
        "model_type": model_type,
        "job_id": job_id,
        "dataset_id": dataset_id,
        "feedback_from": feedback_from,
        "feedback_to": feedback_to,
        "feedback_count": feedback_count,
        "metrics": numeric_metrics(metrics or {}),
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
    base_model: str = "",
    previous_model_id: str | None = None,
    reason: str | None = None,
    alias: str = "production",
    event_id: str | None = None,
    event_time: datetime | None = None,
) -> Record:
    """ModelChanged: ``change`` is deployed, rolled_back or archived."""
    return {
        **event_header(event_id, event_time),
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
