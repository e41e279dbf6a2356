"""Follow one topic from its beginning, outside any consumer group, in a background task.

What the API's read models share: the agents' table views (``agents/views.py``) and the
dashboard's loss curves (``api/ui/losses.py``). A follower takes every partition of its topic
(it finds the topic once something creates it: metadata is refreshed every second until
then) and hands each polled batch of messages to :meth:`TopicFollower.take`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs

AIOKAFKA_FETCH_MAX_WAIT_MS = 500  # aiokafka's default


class TopicFollower:
    """``start()`` and ``stop()`` the reading; subclasses say what to keep in :meth:`take`."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        client_id: str,
        fetch_max_wait_ms: int = AIOKAFKA_FETCH_MAX_WAIT_MS,
    ) -> None:
        self._settings = settings
        self.topic = topic
        self._client_id = client_id
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            self.topic,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=1000,
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            **client_kwargs(self._settings, self._client_id),
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

    def take(self, partition: TopicPartition, messages: Sequence[ConsumerRecord]) -> None:
        """Keep what matters of ``messages``, the next ones read from ``partition``."""
        raise NotImplementedError

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            # No max_records: a poll hands over whole record batches (TableView.sync needs it).
            polled = await consumer.getmany(timeout_ms=200)
            for partition, messages in polled.items():
                self.take(partition, messages)
