"""Training commands, the stop broadcast, and job status.

* ``tonebridge.training.commands.v1``: TrainingCommand of every kind but ``stop``, keyed by
  ``command_id`` (spreads jobs over trainers; a replayed command lands where the first did).
* ``tonebridge.training.control.v1``: ``stop`` commands keyed by ``job_id``. Every trainer reads
  all of it (a broadcast): only the trainer running the job knows it.
* ``tonebridge.training.status.v1``: TrainingStatus keyed by ``job_id`` (a job's progress in
  order).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tonebridge.avro.codec import Record
from tonebridge.job_kinds import JOB_KINDS
from tonebridge.topics.spec import TopicSpec, event_header, field, numeric_metrics

TRAINING_COMMAND = "TrainingCommand"
TRAINING_STATUS = "TrainingStatus"
# The progress fields of a TrainingStatus and their schema defaults.
PROGRESS: Record = {
    "step": 0, "total_steps": 0, "epoch": 0.0, "progress": 0.0,
    "loss": None, "learning_rate": None, "eta_seconds": None,
}  # fmt: skip
STOP = "stop"
# ``requested_by`` of the commands a retraining policy fires: "policy:<name>".
POLICY_REQUESTER = "policy:"


def _not_stop(record: Mapping[str, Any]) -> str | None:
    kind = record.get("kind")
    return None if kind in JOB_KINDS else f"kind {kind!r} belongs on the control topic"


def _only_stop(record: Mapping[str, Any]) -> str | None:
    kind = record.get("kind")
    return None if kind == STOP else f"kind {kind!r} belongs on the commands topic"


TRAINING_COMMANDS_TOPIC = TopicSpec(
    "tonebridge.training.commands.v1", (TRAINING_COMMAND,), field("command_id"), check=_not_stop
)
TRAINING_CONTROL_TOPIC = TopicSpec(
    "tonebridge.training.control.v1", (TRAINING_COMMAND,), field("job_id"), check=_only_stop
)
TRAINING_STATUS_TOPIC = TopicSpec(
    "tonebridge.training.status.v1", (TRAINING_STATUS,), field("job_id")
)


def command_topic(command: Mapping[str, Any]) -> TopicSpec:
    """The topic a TrainingCommand goes to: control for ``stop``, commands otherwise."""
    return TRAINING_CONTROL_TOPIC if command.get("kind") == STOP else TRAINING_COMMANDS_TOPIC


_JOB_IDS = uuid.UUID("5d1f0c6e-2b7a-4f43-9a51-7c1e8f6b2d90")


def job_id_for(command: Mapping[str, Any]) -> str:
    """The id of the job a start command makes: deterministic, so every party agrees.

    The command's own ``job_id`` when it names one, else its ``command_id`` (a UUID from the
    API; hashed when longer than a job id may be, as a policy's descriptive ids can be).
    """
    named = command.get("job_id")
    if named:
        return str(named)
    command_id = str(command["command_id"])
    return command_id if len(command_id) <= 36 else uuid.uuid5(_JOB_IDS, command_id).hex


def training_command(
    *,
    command_id: str,
    kind: str,
    requested_by: str,
    job_id: str | None = None,
    model_id: str | None = None,
    baseline_model_id: str | None = None,
    base_model: str | None = None,
    model_type: str = "tone_adjustment",
    dataset_id: str | None = None,
    feedback_since: datetime | None = None,
    config: Mapping[str, Any] | None = None,
    reason: str | None = None,
    event_id: str | None = None,
    event_time: datetime | None = None,
) -> Record:
    """A TrainingCommand; ``config`` travels as sorted JSON in ``config_json``."""
    return {
        **event_header(event_id, event_time),
        "command_id": command_id,
        "kind": kind,
        "job_id": job_id,
        "model_id": model_id,
        "baseline_model_id": baseline_model_id,
        "base_model": base_model,
        "model_type": model_type,
        "dataset_id": dataset_id,
        "feedback_since": feedback_since,
        "config_json": json.dumps(dict(config or {}), sort_keys=True),
        "requested_by": requested_by,
        "reason": reason,
    }


def training_status(
    job_id: str,
    command_id: str,
    status: str,
    *,
    message: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    event_time: datetime | None = None,
    **progress: Any,
) -> Record:
    """A TrainingStatus; ``progress`` may set the fields of :data:`PROGRESS` (others are
    dropped, and so is a ``None``: the field keeps its default)."""
    given = {k: v for k, v in progress.items() if k in PROGRESS and v is not None}
    return {
        **event_header(event_id, event_time),
        "job_id": job_id,
        "command_id": command_id,
        "status": status,
        **PROGRESS,
        **given,
        "message": message,
        "metrics": numeric_metrics(metrics or {}),
    }
