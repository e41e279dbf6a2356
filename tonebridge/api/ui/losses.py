"""Loss curves for the dashboard, followed from the TrainingStatus topic.

Every trainer reports each logged step on ``training.status.v1``; :class:`LossCurves` reads
that topic from the beginning (no consumer group, every partition) and keeps the newest
:data:`MAX_POINTS` ``(step, loss)`` points of each job in memory, as the agents' views do
for their tables.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from aiokafka import AIOKafkaConsumer

from tonebridge.errors import DecodeError
from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.training import TRAINING_STATUS_TOPIC

MAX_POINTS = 2000


class LossCurves:
    """``curve(job_id)``: the job's reported ``{"step", "loss", "progress"}`` points."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._curves: dict[str, deque[dict[str, Any]]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            TRAINING_STATUS_TOPIC.name(self._settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=1000,
            **client_kwargs(self._settings, "tonebridge-ui-losses"),
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._follow(self._consumer))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    def curve(self, job_id: str) -> list[dict[str, Any]]:
        return list(self._curves.get(job_id, ()))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            polled = await consumer.getmany(timeout_ms=200)
            for messages in polled.values():
                for message in messages:
                    self._take(message.value)

    def _take(self, payload: bytes | None) -> None:
        try:
            events = TRAINING_STATUS_TOPIC.decode(payload)
        except DecodeError:
            return  # the trainer dead-letters nothing here; a bad record has no point to plot
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
