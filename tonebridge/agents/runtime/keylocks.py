"""One asyncio lock per key, kept only while someone holds or waits for it.

The A/B agents lock each test they update. A map that made a lock for every key it was asked
for would keep one per test id ever named, including every unknown id a producer sends; here
a key's lock leaves the map with its last user, so the map holds only the keys in use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holders and waiters


class KeyLocks:
    """Mutual exclusion per key; :meth:`held` is an async context manager."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        """The keys held or waited for now."""
        return len(self._entries)

    @asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        entry = self._entries.setdefault(key, _Entry())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]
