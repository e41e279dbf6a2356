"""How an agent walks its stream: batches of messages, each handled fully before its ack.

An agent takes a batch of messages (up to ``max_messages``, or whatever arrived within
``within_s``), folds them in memory and writes each table key once. faust acknowledges the
batch when the loop body returns; a failed batch is retried in place while the failure is
transient, with growing pauses and jitter and for as long as it stays transient (a database or
broker that is down holds the stream back; it never ends the process). Handling a batch again
is safe: effects have deterministic ids and the values' offset marks skip what is already
applied. With a :class:`Sequencer` (every durable agent) the handler sees each source offset
once and in order. Any other failure (a bug: a bad record is a dead letter before it gets
here) stops the process at once: faust acknowledges a batch in a ``finally`` even when the body
raised or was cancelled, and commits acknowledged offsets on the way down, so a graceful stop
could skip the failed batch. Exiting like a crash keeps its offsets uncommitted; it is read
again on restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from tonebridge.agents.runtime.sequencing import Sequencer
from tonebridge.retry import retrying
from tonebridge.topics.messages import Message, Origin

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[Message]], Awaitable[None]]
Fatal = Callable[[BaseException], Awaitable[None]]
EXIT_STATUS = 70  # EX_SOFTWARE: the worker stopped itself on a message it cannot handle


@dataclass(frozen=True)
class Batching:
    max_messages: int = 200
    within_s: float = 0.005


def origin_of(message: Any) -> Origin:
    """Where an aiokafka record came from (its ``timestamp`` is in milliseconds)."""
    timestamp = message.timestamp
    return _origin(message, None if timestamp is None else int(timestamp))


def faust_origin(message: Any) -> Origin:
    """Where a faust message came from (its ``timestamp`` is in seconds)."""
    timestamp = message.timestamp
    return _origin(message, None if timestamp is None else round(timestamp * 1000))


def _origin(message: Any, timestamp_ms: int | None) -> Origin:
    topic, partition, offset = str(message.topic), int(message.partition), int(message.offset)
    return Origin(topic, partition, offset, message.key, timestamp_ms)


async def handle_with_retry(handle: BatchHandler, batch: Sequence[Message]) -> None:
    """Handle one batch, retrying transient failures for as long as they last."""
    await retrying(partial(handle, batch), f"a batch of {len(batch)}")


class InSequence:
    """``handle`` behind a sequencer: replays dropped, holes read, marks stored after.

    :meth:`sweep` also hands over the messages a quiet partition never delivered; a lock keeps
    it and the agent's own batches from interleaving.
    """

    def __init__(self, handle: BatchHandler, sequencer: Sequencer) -> None:
        self._handle = handle
        self._sequencer = sequencer
        self._lock = asyncio.Lock()
        self.last_batch_at = time.monotonic()

    async def __call__(self, batch: Sequence[Message]) -> None:
        async with self._lock:
            self.last_batch_at = time.monotonic()
            arranged, last = await self._sequencer.arrange(batch)
            await self._apply(arranged, last)

    def hold_off(self) -> None:
        """Count now as activity: a sweep waits for a whole quiet period from here."""
        self.last_batch_at = time.monotonic()

    async def sweep(self, partitions: Sequence[tuple[str, int]], limit: int = 200) -> None:
        """Handle what ``partitions`` hold past their marks and never delivered (at most
        ``limit`` messages of each)."""
        async with self._lock:
            arranged, last = await self._sequencer.overdue(partitions, limit)
            await self._apply(arranged, last)

    async def _apply(self, arranged: list[Message], last: dict[tuple[str, int], int]) -> None:
        if arranged:
            await self._handle(arranged)
        await self._sequencer.record(last)


def in_sequence(handle: BatchHandler, sequencer: Sequencer) -> InSequence:
    return InSequence(handle, sequencer)


async def consume(stream: Any, handle: BatchHandler, batching: Batching, fatal: Fatal) -> None:
    """The body of every agent."""
    async for events in stream.take_events(batching.max_messages, batching.within_s):
        batch = [(faust_origin(e.message), e.message.value) for e in events]
        try:
            await handle_with_retry(handle, batch)
        except Exception as exc:
            await fatal(exc)
            raise


async def exit_process(error: BaseException) -> None:
    """Stop the worker like a crash, before faust can acknowledge the failed batch."""
    log.critical("stopping the worker: a batch cannot be handled: %r", error, exc_info=error)
    logging.shutdown()
    os._exit(EXIT_STATUS)
