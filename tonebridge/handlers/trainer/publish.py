"""Where the trainer's and the registry's events go: a one-method sink interface.

:class:`KafkaEvents` puts the producer SDK behind it, waiting for the broker's ack on
each event (status and model events are few; knowing they landed matters more).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from tonebridge.client import EventProducer, ProducerConfig
from tonebridge.settings import Settings
from tonebridge.topics.spec import TopicSpec


class EventSink(Protocol):
    """Publishes one record on a topic (encoded with the topic's schema)."""

    async def publish(
        self, spec: TopicSpec, record: Mapping[str, Any], schema: str | None = None
    ) -> None: ...


class KafkaEvents:
    """An :class:`EventSink` on the producer SDK; ``publish`` returns once delivered."""

    def __init__(self, settings: Settings, config: ProducerConfig | None = None) -> None:
        # No lingering: each event is awaited on its own, so nothing waits to be packed.
        self.producer = EventProducer(settings, config or ProducerConfig(linger_s=0.0))

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.close()

    async def publish(
        self, spec: TopicSpec, record: Mapping[str, Any], schema: str | None = None
    ) -> None:
        await self.producer.send_and_wait(spec, record, schema)
