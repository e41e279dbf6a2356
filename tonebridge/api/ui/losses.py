"""Loss curves for the dashboard, followed from the TrainingStatus topic.

Every trainer reports each logged step on ``training.status.v1``; :class:`LossCurves` reads
that topic from the beginning (no consumer group, every partition) and keeps the newest
:data:`MAX_POINTS` ``(step, loss)`` points of each job in memory, as the agents' views do
for their tables.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from tonebridge.errors import DecodeError
from tonebridge.settings import Settings
from tonebridge.topics.follower import TopicFollower
from tonebridge.topics.training import TRAINING_STATUS_TOPIC

MAX_POINTS = 2000


class LossCurves(TopicFollower):
    """``curve(job_id)``: the job's reported ``{"step", "loss", "progress"}`` points."""

    def __init__(self, settings: Settings) -> None:
        topic = TRAINING_STATUS_TOPIC.name(settings)
        super().__init__(settings, topic, "tonebridge-ui-losses")
        self._curves: dict[str, deque[dict[str, Any]]] = {}

    def curve(self, job_id: str) -> list[dict[str, Any]]:
        return list(self._curves.get(job_id, ()))

    def take(self, partition: TopicPartition, messages: Sequence[ConsumerRecord]) -> None:
        for message in messages:
            try:
                events = TRAINING_STATUS_TOPIC.decode(message.value)
            except DecodeError:
                continue  # the trainer dead-letters nothing here; a bad record has no point
            for event in events:
                add_point(self._curves, event.record)


def add_point(curves: dict[str, deque[dict[str, Any]]], status: dict[str, Any]) -> None:
    """Append a TrainingStatus's loss to its job's curve (statuses without a loss add none)."""
    if status.get("loss") is None:
        return
    curve = curves.setdefault(status["job_id"], deque(maxlen=MAX_POINTS))
    point = {"step": status["step"], "loss": status["loss"], "progress": status["progress"]}
    if not curve or curve[-1]["step"] != point["step"]:
        curve.append(point)
