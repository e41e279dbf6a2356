"""``async with`` for the SDK's long-lived clients: enter starts them, exit closes them."""

from __future__ import annotations

from types import TracebackType
from typing import Self


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
