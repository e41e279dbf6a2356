"""Producer and consumer SDKs for applications and downstream inference services."""

from tonebridge.client.producer import EventProducer, ProducerConfig, ProducerStats
from tonebridge.client.sync import SyncEventProducer

__all__ = ["EventProducer", "ProducerConfig", "ProducerStats", "SyncEventProducer"]
