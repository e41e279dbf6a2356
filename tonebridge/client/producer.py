"""Producer SDK: send events (FeedbackEvent, InferenceOutcome, any topic) to Kafka.

``send`` validates and encodes the record at once (a record that does not fit its schema
raises :class:`SchemaValidationError` to the caller) and queues it. A background sender waits
up to ``linger_s`` for more, packs the events bound for one partition (every key that routes
there) into an ``EventBatch`` message (up to ``max_batch_events``), and produces with
``acks=all``.

Delivery is at least once. Transient failures (broker down, leader moving, topic not created
yet) are retried until ``delivery_timeout_s`` after the event was accepted; then the event's
receipt fails with :class:`ProduceError`, and so does the next ``flush()`` or ``close()``. A
retried message may arrive twice (consumers deduplicate on ``event_id``), and under failures
events of one key may arrive out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from tonebridge.client.config import ProducerConfig, ProducerStats
from tonebridge.client.kafka import confirm_topics, connect
from tonebridge.client.lifecycle import AsyncClient
from tonebridge.client.packing import Outgoing, pack, single
from tonebridge.errors import ProduceError
from tonebridge.settings import Settings
from tonebridge.topics.connection import is_transient
from tonebridge.topics.spec import TopicSpec

__all__ = ["EventProducer", "ProducerConfig", "ProducerStats", "Receipt"]

Receipt = asyncio.Future[None]
SHOWN_FAILURES = 10


@dataclass(frozen=True, eq=False)
class _Pending:
    topic: str
    key: bytes
    value: bytes
    event_id: str
    accepted_at: float
    receipt: Receipt


class EventProducer(AsyncClient):
    """Asynchronous producer; use ``async with EventProducer(settings) as producer:``."""

    def __init__(self, settings: Settings, config: ProducerConfig | None = None) -> None:
        self.settings = settings
        self.config = config or ProducerConfig()
        self.stats = ProducerStats()
        self._queue: deque[_Pending] = deque()
        self._unsettled = 0
        # Failures not yet reported by flush()/close(): a count, a few ids, the last error.
        self._failed_count = 0
        self._failed_ids: list[str] = []
        self._last_failure: BaseException | None = None
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._flushing = 0
        self._producer: AIOKafkaProducer | None = None
        self._sender: asyncio.Task[None] | None = None
        self._closed = False
        # After a failed delivery the broker may be a new one without our topics: confirm
        # they exist before sending again (the embedded broker acknowledges writes to
        # missing topics and drops them).
        self._suspect = False

    async def start(self) -> None:
        """Connect (retrying while the broker is unreachable, up to ``start_timeout_s``)."""
        self._producer = await connect(self.settings, self.config)
        self._sender = asyncio.create_task(self._run(), name="tonebridge-producer")

    async def send(
        self, spec: TopicSpec, record: Mapping[str, Any], schema: str | None = None
    ) -> Receipt:
        """Validate, encode and queue ``record`` for ``spec``'s topic.

        Waits while ``buffer_events`` events are undelivered (raises ProduceError after
        ``send_timeout_s``). The returned receipt completes when the broker has the event.
        """
        message = spec.encode(record, schema)
        if len(message.value) > self.config.max_message_bytes:
            msg = f"event {message.event_id} is {len(message.value)} bytes, over max_message_bytes"
            raise ProduceError(msg)
        await self._wait_for_room()
        loop = asyncio.get_running_loop()
        receipt: Receipt = loop.create_future()
        topic = spec.name(self.settings)
        self._queue.append(
            _Pending(topic, message.key, message.value, message.event_id, loop.time(), receipt)
        )
        self._accepted()
        return receipt

    async def send_and_wait(
        self, spec: TopicSpec, record: Mapping[str, Any], schema: str | None = None
    ) -> None:
        """Send one event and wait until the broker has it (or ProduceError)."""
        await (await self.send(spec, record, schema))

    async def flush(self) -> None:
        """Deliver everything accepted so far; raise ProduceError for what could not be."""
        self._flushing += 1
        self._wake.set()
        try:
            while self._unsettled:
                self._idle.clear()
                await self._wait(self._idle)
        finally:
            self._flushing -= 1
        self._raise_undelivered()

    async def close(self) -> None:
        """Flush, then disconnect. Raises ProduceError for events that were not delivered."""
        if self._closed:
            return
        try:
            if self._sender is not None and not self._sender.done():
                await self.flush()
        finally:
            self._closed = True
            await self._shutdown()
        self._raise_undelivered()

    # --- accepting ---------------------------------------------------------------------

    async def _wait_for_room(self) -> None:
        if self._closed or self._sender is None:
            msg = "producer is not running (call start(), or use 'async with')"
            raise ProduceError(msg)
        if self._sender.done():
            msg = "the producer's sender stopped"
            raise ProduceError(msg) from _task_error(self._sender)
        if self._unsettled < self.config.buffer_events:
            return
        timeout = self.config.send_timeout_s
        try:
            async with asyncio.timeout(timeout):
                while self._unsettled >= self.config.buffer_events:
                    self._room.clear()
                    await self._wait(self._room)
        except TimeoutError:
            msg = (
                f"producer buffer full: {self._unsettled} events undelivered after "
                f"{timeout}s (is the broker at {self.settings.bootstrap_servers} up?)"
            )
            raise ProduceError(msg) from None

    def _accepted(self) -> None:
        self._unsettled += 1
        self.stats.events_accepted += 1
        if len(self._queue) == 1 or len(self._queue) >= self.config.max_batch_events:
            self._wake.set()

    def _settled(self, count: int) -> None:
        self._unsettled -= count
        if self._unsettled < self.config.buffer_events:
            self._room.set()
        if self._unsettled == 0:
            self._idle.set()

    async def _wait(self, event: asyncio.Event) -> None:
        """Wait for ``event``, but fail at once if the sender died."""
        assert self._sender is not None  # noqa: S101 - start() ran
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({waiter, self._sender}, return_when="FIRST_COMPLETED")
        finally:
            waiter.cancel()
        if self._sender.done() and not event.is_set():
            msg = "the producer's sender stopped"
            raise ProduceError(msg) from _task_error(self._sender)

    def _raise_undelivered(self) -> None:
        count, ids, last = self._failed_count, self._failed_ids, self._last_failure
        self._failed_count, self._failed_ids, self._last_failure = 0, [], None
        if count:
            more = f" and {count - len(ids)} more" if count > len(ids) else ""
            msg = f"{count} events not delivered: {', '.join(ids)}{more}; last error: {last}"
            raise ProduceError(msg) from last

    # --- sending -----------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.0
        try:
            while True:
                await self._next_batch()
                batch = list(self._queue)
                self._queue.clear()
                failures = await self._deliver(batch)
                if failures:
                    self._suspect = True
                    backoff = min(
                        max(backoff * 2, self.config.retry_backoff_s),
                        self.config.max_retry_backoff_s,
                    )
                    self._retry_or_fail(failures)
                    await asyncio.sleep(backoff)
                else:
                    backoff = 0.0
        except Exception as exc:  # noqa: BLE001 - a sender bug must not lose events silently
            self._fail_all(exc)
            raise

    async def _next_batch(self) -> None:
        """Wait for an event, then up to ``linger_s`` from its arrival for more."""
        while not self._queue:
            self._wake.clear()
            await self._wake.wait()
        loop = asyncio.get_running_loop()
        linger = self.config.linger_s - (loop.time() - self._queue[0].accepted_at)
        if linger <= 0 or self._flushing or len(self._queue) >= self.config.max_batch_events:
            return
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(linger):
                await self._wake.wait()

    async def _deliver(self, batch: list[_Pending]) -> list[tuple[_Pending, BaseException]]:
        config = self.config
        if self._suspect:
            try:
                topics = {event.topic for event in batch}
                await confirm_topics(self.settings, topics, config.request_timeout_s)
            except Exception as exc:  # noqa: BLE001 - classified in _retry_or_fail
                return [(event, exc) for event in batch]
            self._suspect = False
        messages = (
            pack(batch, config.max_batch_events, config.max_message_bytes, self._partitions(batch))
            if config.pack
            else single(batch)
        )
        failures: list[tuple[_Pending, BaseException]] = []
        in_flight = await self._hand_over(messages, failures)
        for message, future in in_flight:
            try:
                await future
            except Exception as exc:  # noqa: BLE001 - classified in _retry_or_fail
                failures += [(event, exc) for event in message.events]
            else:
                self._delivered(message)
        return failures

    def _partitions(self, batch: list[_Pending]) -> dict[str, int]:
        """The partition count of each topic in ``batch`` that the client's metadata knows."""
        assert self._producer is not None  # noqa: S101 - start() ran
        cluster = self._producer.client.cluster
        counts: dict[str, int] = {}
        for topic in {event.topic for event in batch}:
            known = cluster.partitions_for_topic(topic)
            if known:
                counts[topic] = len(known)
        return counts

    async def _hand_over(
        self, messages: list[Outgoing[_Pending]], failures: list[tuple[_Pending, BaseException]]
    ) -> list[tuple[Outgoing[_Pending], asyncio.Future[Any]]]:
        """Give ``messages`` to aiokafka; a topic that fails once is skipped this round."""
        assert self._producer is not None  # noqa: S101 - start() ran
        broken: dict[str, BaseException] = {}
        in_flight = []
        for message in messages:
            error = broken.get(message.topic)
            if error is None:
                try:
                    future = await self._producer.send(
                        message.topic, message.value, message.key, partition=message.partition
                    )
                except Exception as exc:  # noqa: BLE001 - classified in _retry_or_fail
                    error = broken[message.topic] = exc
                else:
                    in_flight.append((message, future))
                    continue
            failures += [(event, error) for event in message.events]
        return in_flight

    def _delivered(self, message: Outgoing[_Pending]) -> None:
        for event in message.events:
            if not event.receipt.done():
                event.receipt.set_result(None)
        self.stats.messages_sent += 1
        self.stats.events_delivered += len(message.events)
        self._settled(len(message.events))

    def _retry_or_fail(self, failures: list[tuple[_Pending, BaseException]]) -> None:
        now = asyncio.get_running_loop().time()
        retry: list[_Pending] = []
        for event, error in failures:
            if is_transient(error) and now - event.accepted_at < self.config.delivery_timeout_s:
                retry.append(event)
            else:
                self._fail(event, error)
        self.stats.retries += len(retry)
        self._queue.extendleft(reversed(retry))

    def _fail(self, event: _Pending, error: BaseException) -> None:
        msg = f"event {event.event_id} to {event.topic} not delivered: {error!r}"
        failure = ProduceError(msg)
        failure.__cause__ = error
        if not event.receipt.done():
            event.receipt.set_exception(failure)
            # Callers may ignore receipts and rely on flush(): do not log it as unhandled.
            event.receipt.exception()
        self._failed_count += 1
        if len(self._failed_ids) < SHOWN_FAILURES:
            self._failed_ids.append(event.event_id)
        self._last_failure = failure
        self.stats.events_failed += 1
        self._settled(1)

    def _fail_all(self, error: BaseException) -> None:
        pending, self._queue = list(self._queue), deque()
        for event in pending:
            self._fail(event, error)

    # --- connection ----------------------------------------------------------------------

    async def _shutdown(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender
        self._fail_all(ProduceError("producer closed"))
        if self._producer is not None:
            await self._producer.stop()


def _task_error(task: asyncio.Task[None]) -> BaseException | None:
    return None if task.cancelled() else task.exception()
