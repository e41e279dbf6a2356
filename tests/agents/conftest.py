"""faust test contexts of the worker's agents: in-memory tables (no changelog) and outbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.support.agents import MemoryOutbox
from tonebridge.agents.app import Wiring, Worker, create_app
from tonebridge.decisions.retraining import parse_policies
from tonebridge.settings import load_settings

POLICIES = parse_policies(
    {
        "policies": [
            {"name": "fix", "kind": "min_corrections", "threshold": 3},
            {"name": "lost", "kind": "lost_ab_test", "training": {"kind": "dpo"}},
        ]
    }
)


class MemoryVerdicts:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str | None, Any]] = []

    async def record(self, test_id: str, winner_model_id: str | None, results: Any) -> None:
        self.recorded.append((test_id, winner_model_id, results))


async def _raise(error: BaseException) -> None:
    raise error


@pytest.fixture
async def worker(unique: str) -> AsyncIterator[Worker]:
    """Built inside the test's event loop: faust would otherwise make (and leak) its own."""
    settings = load_settings(kafka_topic_prefix=f"{unique}.", kafka_topic_partitions=4)
    wiring = Wiring(
        policies=POLICIES,
        verdicts=MemoryVerdicts(),
        outbox=MemoryOutbox(),
        durable=False,
        fatal=_raise,
    )
    built = create_app(settings, wiring)
    yield built
    # A stream in a test context makes the app's consumer, whose thread (never started)
    # owns an event loop of its own; close it so it is not leaked.
    consumer = getattr(built.app, "_consumer", None)
    if consumer is not None:
        consumer._thread.thread_loop.close()


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait until ``check()`` holds (agents take events in batches, a few ms later)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
