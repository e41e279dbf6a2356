from __future__ import annotations

import os
from pathlib import Path

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


def open_files() -> set[str]:
    fds = Path("/proc/self/fd")
    return {os.path.realpath(fds / fd) for fd in os.listdir(fds)}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_logged_broker_writes_its_log_and_holds_no_descriptor_of_it(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    with EmbeddedBroker(log_path=log) as embedded:
        assert embedded.running
        assert os.path.realpath(log) not in open_files()  # only the broker process writes it
    assert log.stat().st_size > 0
