"""A fetch wait for faust's consumer, which faust hard-codes to 1.5 s.

A Kafka broker answers a waiting fetch as soon as data arrives, so the wait only bounds idle
polling. The embedded broker (Tansu) holds every fetch for the full wait even when records
arrive meanwhile, so each consumer hop would add up to 1.5 s of latency. faust 0.15 passes
``fetch_max_wait_ms=1500`` to aiokafka with no setting to change it; this wraps the method that
builds the consumer and sets the app's value on it before it starts.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as driver

_ATTRIBUTE = "tonebridge_fetch_max_wait_ms"
_original = driver.AIOKafkaConsumerThread._create_worker_consumer


def _create_worker_consumer(self: Any, transport: Any) -> Any:
    consumer = _original(self, transport)
    wait_ms = getattr(self.app, _ATTRIBUTE, None)
    if wait_ms is not None:
        # aiokafka reads this when start() builds its fetcher.
        consumer._fetch_max_wait_ms = wait_ms
    return consumer


def set_fetch_max_wait(app: Any, wait_ms: int) -> None:
    """Use ``wait_ms`` as the fetch wait of ``app``'s consumer (set before the app starts)."""
    setattr(app, _ATTRIBUTE, wait_ms)
    setattr(driver.AIOKafkaConsumerThread, "_create_worker_consumer", _create_worker_consumer)  # noqa: B010
