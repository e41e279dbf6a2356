"""The demo's embedded stack: a cancelled start leaves no broker behind."""

from __future__ import annotations

import asyncio

import pytest

from tonebridge.broker import EmbeddedBroker, free_port
from tonebridge.demo.stack import start_broker

pytestmark = pytest.mark.integration


# No log file: EmbeddedBroker leaves its log file open (a ResourceWarning under pytest).


async def test_a_start_cancelled_midway_stops_the_broker() -> None:
    broker = EmbeddedBroker(free_port())
    task = asyncio.create_task(start_broker(broker))
    await asyncio.sleep(0)  # the start is under way in its thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not broker.running


async def test_a_started_broker_is_returned_running() -> None:
    broker = await start_broker(EmbeddedBroker(free_port()))
    try:
        assert broker.running
    finally:
        broker.stop()
