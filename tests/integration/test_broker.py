from __future__ import annotations

import pytest

from tonebridge.broker import EmbeddedBroker, kafka_ready
from tonebridge.errors import BrokerError


def test_broker_starts_serves_and_stops() -> None:
    embedded = EmbeddedBroker()
    embedded.start()
    try:
        assert embedded.running
    finally:
        embedded.stop()
    assert not embedded.running


async def test_ready_check_fails_on_a_dead_port() -> None:
    dead = EmbeddedBroker()  # never started: nothing listens on its port
    with pytest.raises(BrokerError, match="not ready"):
        await kafka_ready(dead.bootstrap_servers, timeout_s=1.0)
