"""Training commands, the stop broadcast, and job status.

* ``tonebridge.training.commands.v1``: TrainingCommand of every kind but ``stop``, keyed by
  ``command_id`` (spreads jobs over trainers; a replayed command lands where the first did).
* ``tonebridge.training.control.v1``: ``stop`` commands keyed by ``job_id``. Every trainer reads
  all of it (a broadcast): only the trainer running the job knows it.
* ``tonebridge.training.status.v1``: TrainingStatus keyed by ``job_id`` (a job's progress in
  order).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tonebridge.topics.spec import TopicSpec, field

TRAINING_COMMAND = "TrainingCommand"
TRAINING_STATUS = "TrainingStatus"
STOP = "stop"
JOB_KINDS = frozenset({"sft", "qlora", "dpo", "kto", "rlhf", "evaluate"})


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
