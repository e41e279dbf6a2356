"""The producer's aiokafka plumbing: connect with retries, and check topics exist."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError

from tonebridge.client.config import ProducerConfig
from tonebridge.errors import ProduceError
from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs, is_transient


def new_producer(settings: Settings, config: ProducerConfig) -> AIOKafkaProducer:
    """An aiokafka producer with ``acks=all``; batching and retries are layered on top."""
    return AIOKafkaProducer(
        **client_kwargs(settings, "tonebridge-producer"),
        acks="all",
        # Idempotence needs producer ids the embedded broker does not reliably keep.
        enable_idempotence=False,
        linger_ms=0,  # the EventProducer lingers itself, before packing
        max_batch_size=256 * 1024,
        max_request_size=config.max_message_bytes + 64 * 1024,
        request_timeout_ms=int(config.request_timeout_s * 1000),
        retry_backoff_ms=int(config.retry_backoff_s * 1000),
        compression_type=config.compression,
    )


async def connect(settings: Settings, config: ProducerConfig) -> AIOKafkaProducer:
    """A started producer; retries while the broker is unreachable, up to ``start_timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.start_timeout_s
    while True:
        producer = new_producer(settings, config)
        try:
            await producer.start()
        except Exception as exc:  # noqa: BLE001 - retried or raised as ProduceError
            await producer.stop()
            if not is_transient(exc) or loop.time() >= deadline:
                msg = f"cannot connect to Kafka at {settings.bootstrap_servers}: {exc!r}"
                raise ProduceError(msg) from exc
            await asyncio.sleep(config.retry_backoff_s)
        else:
            return producer


async def confirm_topics(settings: Settings, topics: Collection[str], timeout_s: float) -> None:
    """Raise UnknownTopicOrPartitionError (transient) unless every topic exists.

    Asks without creating anything: a plain metadata request may auto-create a topic with the
    broker's default partition count.
    """
    admin = AIOKafkaAdminClient(
        **client_kwargs(settings, "tonebridge-producer-check"),
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        await admin.start()
        missing = set(topics) - set(await admin.list_topics())
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    if missing:
        msg = f"topics do not exist (yet): {', '.join(sorted(missing))}"
        raise UnknownTopicOrPartitionError(msg)
