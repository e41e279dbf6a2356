"""Progress from the training thread to the event loop, in order, without blocking training."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tonebridge.handlers.methods.control import ProgressUpdate

log = logging.getLogger(__name__)

OnUpdate = Callable[[ProgressUpdate], Awaitable[None]]


class ProgressRelay:
    """``sink`` is called by the runner's thread; ``on_update`` runs on the loop, one at a time.

    A slow database or broker never stalls training: updates queue up, and a failing
    update is logged, not raised, so a progress write cannot kill a run.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, on_update: OnUpdate) -> None:
        self.loop = loop
        self.on_update = on_update
        self.queue: asyncio.Queue[ProgressUpdate | None] = asyncio.Queue()
        self.task = loop.create_task(self._drain())

    def sink(self, update: ProgressUpdate) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, update)

    async def close(self) -> None:
        """Deliver what is queued, then stop."""
        self.queue.put_nowait(None)
        await self.task

    async def _drain(self) -> None:
        while (update := await self.queue.get()) is not None:
            try:
                await self.on_update(update)
            except Exception:  # noqa: BLE001 - progress is best effort; the run goes on
                log.exception("progress update at step %d failed", update.step)
