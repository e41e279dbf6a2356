"""A blocking facade over :class:`EventProducer`, for code without an event loop.

The async producer runs on its own event loop in a daemon thread (a :class:`LoopThread`,
which the sync experiment router uses too); each call hands work to that loop and waits for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from tonebridge.client.config import ProducerConfig, ProducerStats
from tonebridge.client.producer import EventProducer
from tonebridge.settings import Settings
from tonebridge.topics.spec import TopicSpec

T = TypeVar("T")
Delivery = concurrent.futures.Future[None]


class LoopThread:
    """An event loop running in a daemon thread; :meth:`call` runs a coroutine on it."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the loop and wait for its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def stop(self) -> None:
        """Stop the loop, join the thread and close the loop."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class SyncEventProducer:
    """``with SyncEventProducer(settings) as producer: producer.send(FEEDBACK_TOPIC, record)``."""

    def __init__(self, settings: Settings, config: ProducerConfig | None = None) -> None:
        self._thread = LoopThread("tonebridge-producer")
        self._producer = EventProducer(settings, config)
        try:
            self._call(self._producer.start())
        except BaseException:
            self._thread.stop()
            raise

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

    def close(self) -> None:
        """Flush and disconnect, then stop the producer's thread."""
        if not self._thread.running:
            return
        try:
            self._call(self._producer.close())
        finally:
            self._thread.stop()

    def __enter__(self) -> SyncEventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def _send(
        self, spec: TopicSpec, record: Mapping[str, Any], schema: str | None
    ) -> Delivery:
        return _bridge(await self._producer.send(spec, record, schema))

    async def _send_many(
        self, spec: TopicSpec, records: list[Mapping[str, Any]], schema: str | None
    ) -> Delivery:
        receipts = [await self._producer.send(spec, r, schema) for r in records]
        return _bridge(asyncio.gather(*receipts))

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return self._thread.call(work)


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
