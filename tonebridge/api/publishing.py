"""The API's :class:`~tonebridge.api.services.Publisher`: the producer SDK with acks=all.

A request returns only after the broker has every event it carried, so ``202`` means the
command is durably on its topic. The delivery timeout is short: a client waiting on an HTTP
response is better served by a quick ``503`` (and a retry) than by a two-minute wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType

from tonebridge.avro.codec import Record
from tonebridge.client import EventProducer, ProducerConfig
from tonebridge.settings import Settings
from tonebridge.topics.spec import TopicSpec

API_PRODUCER = ProducerConfig(linger_s=0.002, delivery_timeout_s=10.0, send_timeout_s=10.0)


class ProducerPublisher:
    def __init__(self, settings: Settings, config: ProducerConfig = API_PRODUCER) -> None:
        self.producer = EventProducer(settings, config)

    async def publish(self, spec: TopicSpec, records: Sequence[Record]) -> None:
        receipts = [await self.producer.send(spec, record) for record in records]
        await asyncio.gather(*receipts)

    async def __aenter__(self) -> ProducerPublisher:
        await self.producer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.producer.close()
