"""Producer and consumer SDKs for applications and downstream inference services: the
producer, the one Publisher, the model watch and the experiment router."""

from tonebridge.client.config import ProducerConfig, ProducerStats
from tonebridge.client.producer import EventProducer
from tonebridge.client.publisher import ProducerPublisher, Publisher
from tonebridge.client.router import ExperimentRouter, SyncExperimentRouter
from tonebridge.client.routing import Route
from tonebridge.client.sync import SyncEventProducer

__all__ = [
    "EventProducer",
    "ExperimentRouter",
    "ProducerConfig",
    "ProducerPublisher",
    "ProducerStats",
    "Publisher",
    "Route",
    "SyncEventProducer",
    "SyncExperimentRouter",
]
