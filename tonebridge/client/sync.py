"""A blocking facade over :class:`EventProducer`, for code without an event loop.

The async producer runs on its own event loop in a daemon thread (a
:class:`~tonebridge.client.lifecycle.SyncClient`, as the sync experiment router does); each
call hands work to that loop and waits for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterable, Mapping
from typing import Any

from tonebridge.client.config import ProducerConfig, ProducerStats
from tonebridge.client.lifecycle import SyncClient
from tonebridge.client.producer import EventProducer
from tonebridge.settings import Settings
from tonebridge.topics.spec import TopicSpec

Delivery = concurrent.futures.Future[None]


class SyncEventProducer(SyncClient):
    """``with SyncEventProducer(settings) as producer: producer.send(FEEDBACK_TOPIC, record)``."""

    def __init__(self, settings: Settings, config: ProducerConfig | None = None) -> None:
        self._producer = EventProducer(settings, config)
        super().__init__(self._producer, "tonebridge-producer")

    @property
    def stats(self) -> ProducerStats:
        return self._producer.stats

    def send(
        self, spec: TopicSpec, record: Mapping[str, Any], schema: str | None = None
    ) -> Delivery:
        """Validate and queue ``record`` (blocks while the buffer is full); see EventProducer."""
        return self._call(self._send(spec, record, schema))

    def send_many(
        self, spec: TopicSpec, records: Iterable[Mapping[str, Any]], schema: str | None = None
    ) -> Delivery:
        """Queue several records with one hand-over; one delivery future for them all."""
        return self._call(self._send_many(spec, list(records), schema))

    def flush(self) -> None:
        """Block until everything accepted is delivered; raise ProduceError for what was not."""
        self._call(self._producer.flush())

    async def _send(
        self, spec: TopicSpec, record: Mapping[str, Any], schema: str | None
    ) -> Delivery:
        return _bridge(await self._producer.send(spec, record, schema))

    async def _send_many(
        self, spec: TopicSpec, records: list[Mapping[str, Any]], schema: str | None
    ) -> Delivery:
        receipts = [await self._producer.send(spec, r, schema) for r in records]
        return _bridge(asyncio.gather(*receipts))


def _bridge(receipt: asyncio.Future[Any]) -> Delivery:
    """A thread-safe future that completes (with None, or the error) when ``receipt`` does."""
    delivery: Delivery = concurrent.futures.Future()

    def copy(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            delivery.cancel()
            return
        error = done.exception()
        if error is None:
            delivery.set_result(None)
        else:
            delivery.set_exception(error)

    receipt.add_done_callback(copy)
    return delivery
