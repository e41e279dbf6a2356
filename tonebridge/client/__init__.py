"""Producer and consumer SDKs for applications and downstream inference services."""

from tonebridge.client.config import ProducerConfig, ProducerStats
from tonebridge.client.producer import EventProducer
from tonebridge.client.publisher import ProducerPublisher, Publisher
from tonebridge.client.sync import SyncEventProducer

__all__ = [
    "EventProducer",
    "ProducerConfig",
    "ProducerPublisher",
    "ProducerStats",
    "Publisher",
    "SyncEventProducer",
]
