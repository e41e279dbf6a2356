"""Lifecycles of the SDK's long-lived clients.

``async with`` an :class:`AsyncClient`: entering starts it, leaving closes it. A
:class:`SyncClient` runs one on the event loop of its own daemon thread (a :class:`LoopThread`)
for code without an event loop: constructing it starts the client, ``close`` or leaving
``with`` closes it and stops the thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

T = TypeVar("T")


class AsyncClient:
    """A client with ``start`` and ``close``, usable as an async context manager."""

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class LoopThread:
    """An event loop running in a daemon thread; :meth:`call` runs a coroutine on it."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the loop and wait for its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def stop(self) -> None:
        """Stop the loop, join the thread and close the loop."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class SyncClient:
    """Runs ``client`` on a :class:`LoopThread` named ``thread_name``; started here."""

    def __init__(self, client: AsyncClient, thread_name: str) -> None:
        self._client = client
        self._thread = LoopThread(thread_name)
        try:
            self._call(client.start())
        except BaseException:
            self._thread.stop()
            raise

    def close(self) -> None:
        """Close the client (a producer flushes first), then stop its thread; idempotent."""
        if not self._thread.running:
            return
        try:
            self._call(self._client.close())
        finally:
            self._thread.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return self._thread.call(work)
