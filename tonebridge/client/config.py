"""How an :class:`~tonebridge.client.producer.EventProducer` behaves, and what it counted."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProducerConfig:
    """How the producer trades latency, throughput, memory and patience."""

    pack: bool = True
    linger_s: float = 0.005
    max_batch_events: int = 500
    # Below Kafka's default message.max.bytes (1 MiB), with room for the record framing.
    max_message_bytes: int = 900_000
    buffer_events: int = 50_000  # accepted but not yet delivered; ``send`` waits beyond
    send_timeout_s: float | None = None  # None: ``send`` waits for room as long as it takes
    delivery_timeout_s: float = 120.0
    request_timeout_s: float = 10.0
    start_timeout_s: float = 30.0
    retry_backoff_s: float = 0.1
    max_retry_backoff_s: float = 2.0
    compression: str | None = None  # "gzip", or "lz4"/"zstd" when installed


@dataclass
class ProducerStats:
    """Counters since start; ``messages_sent < events_delivered`` when packing works."""

    events_accepted: int = 0
    events_delivered: int = 0
    events_failed: int = 0
    messages_sent: int = 0
    retries: int = 0
