"""Where the trainer's events go: a small sink interface and its Kafka implementation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tonebridge.errors import ProduceError
from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.spec import TopicSpec


class EventSink(Protocol):
    """Publishes one record on a topic (encoded with the topic's schema)."""

    async def publish(
        self, spec: TopicSpec, record: Mapping[str, Any], schema: str | None = None
    ) -> None: ...


class KafkaEvents:
    """An :class:`EventSink` on an aiokafka producer; waits for the broker's ack."""

    def __init__(self, producer: AIOKafkaProducer, settings: Settings) -> None:
        self.producer = producer
        self.settings = settings

    @classmethod
    def create(cls, settings: Settings, client_id: str = "tonebridge-trainer") -> KafkaEvents:
        # Idempotence off: the embedded broker (Tansu) does not grant producer ids.
        producer = AIOKafkaProducer(
            **client_kwargs(settings, client_id), acks="all", enable_idempotence=False
        )
        return cls(producer, settings)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish(
        self, spec: TopicSpec, record: Mapping[str, Any], schema: str | None = None
    ) -> None:
        message = spec.encode(record, schema)
        topic = spec.name(self.settings)
        try:
            await self.producer.send_and_wait(topic, message.value, key=message.key)
        except KafkaError as exc:
            msg = f"{topic} did not take event {message.event_id}: {exc!r}"
            raise ProduceError(msg) from exc
