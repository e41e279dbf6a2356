from __future__ import annotations

import asyncio
import threading

import pytest

from tonebridge.handlers.methods.control import ProgressUpdate
from tonebridge.handlers.trainer.progress import ProgressRelay


def update(step: int) -> ProgressUpdate:
    return ProgressUpdate("sft", step, 100, 0.1, step / 100, 1.0, 1e-3, 10.0, 1.0)


async def test_updates_from_a_thread_arrive_in_order_and_failures_do_not_stop_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []

    async def on_update(progress: ProgressUpdate) -> None:
        if progress.step == 3:
            msg = "database hiccup"
            raise RuntimeError(msg)
        seen.append(progress.step)

    relay = ProgressRelay(asyncio.get_running_loop(), on_update)
    worker = threading.Thread(target=lambda: [relay.sink(update(s)) for s in range(1, 51)])
    worker.start()
    await asyncio.to_thread(worker.join)
    await relay.close()
    assert seen == [s for s in range(1, 51) if s != 3]
    assert "progress update at step 3 failed" in caplog.text
