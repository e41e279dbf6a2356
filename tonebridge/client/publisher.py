"""One way to publish events: the :class:`Publisher` interface and its producer-SDK implementation.

Every process publishes through this interface: the HTTP API (commands, feedback), the trainer
(job status, ModelRegistered, dead letters) and the registry's Deployer (ModelChanged) with a
:class:`ProducerPublisher`; the stream worker's agents with its faust outbox
(:class:`~tonebridge.agents.runtime.outbox.FaustOutbox`), which keeps faust's ordering of
effects before offset commits.

``publish`` validates and encodes every record before it returns (a record that does not fit
its schema raises :class:`~tonebridge.errors.SchemaValidationError`) and returns only once the
records are safe: the broker acknowledged them (``acks=all``), or, in the faust outbox, the
producer holds them and is flushed before the input that caused them is acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from tonebridge.client.config import ProducerConfig
from tonebridge.client.lifecycle import AsyncClient
from tonebridge.client.producer import EventProducer
from tonebridge.settings import Settings
from tonebridge.topics.spec import TopicSpec

# Each publish is awaited on its own, so lingering for more records would only add latency.
PUBLISHER_CONFIG = ProducerConfig(linger_s=0.0)


class Publisher(Protocol):
    async def publish(
        self, spec: TopicSpec, *records: Mapping[str, Any], schema: str | None = None
    ) -> None:
        """Put ``records`` on ``spec``'s topic (encoded as ``schema``, or the topic's only
        record type); return once they are safe, as the module docstring says."""


class ProducerPublisher(AsyncClient):
    """A :class:`Publisher` on the producer SDK: ``publish`` returns once the broker has all.

    ``async with ProducerPublisher(settings) as publisher:`` (or ``start`` and ``close``).
    """

    def __init__(self, settings: Settings, config: ProducerConfig = PUBLISHER_CONFIG) -> None:
        self.producer = EventProducer(settings, config)

    async def publish(
        self, spec: TopicSpec, *records: Mapping[str, Any], schema: str | None = None
    ) -> None:
        # Queue them all before waiting: the records of one call travel together.
        receipts = [await self.producer.send(spec, record, schema) for record in records]
        if len(receipts) == 1:
            await receipts[0]  # the usual single event: no gathering future to build
        else:
            await asyncio.gather(*receipts)

    async def start(self) -> None:
        """Connect (retrying while the broker is unreachable, as the producer SDK does)."""
        await self.producer.start()

    async def close(self) -> None:
        """Flush and disconnect; raises ProduceError for records that were not delivered."""
        await self.producer.close()
