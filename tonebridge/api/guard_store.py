"""The small key-value store behind rate limits and idempotency keys: memory or Redis.

Two backends with one interface so a single API process needs nothing (memory), while
several processes behind a load balancer share counters and stored responses (Redis,
used whenever ``REDIS_HOST`` is set). Keys are namespaced with a prefix so tests and
deployments sharing a Redis do not see each other's entries. Every entry expires; the
memory store also holds at most a set number of them, and Redis is bounded by the expiries
(and its own ``maxmemory``).
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tonebridge.errors import StoreUnavailableError

if TYPE_CHECKING:
    from tonebridge.settings import Settings

Clock = Callable[[], float]
_T = TypeVar("_T")


class GuardStore(Protocol):
    """What rate limiting and idempotency need from a store; every value expires."""

    async def incr_window(self, key: str, window_s: int) -> tuple[int, float]:
        """Count one hit in ``key``'s current window: (hits so far, seconds until reset)."""
        ...

    async def put_if_absent(self, key: str, value: bytes, ttl_s: int) -> bytes | None:
        """Store ``value`` unless ``key`` exists; return the existing value, else None."""
        ...

    async def put(self, key: str, value: bytes, ttl_s: int) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        ...

    async def delete(self, key: str) -> None: ...

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""
        ...

    async def close(self) -> None: ...


class MemoryGuardStore:
    """Per-process store, bounded: expired entries are purged as the store is used, and when
    ``max_values`` values or ``max_windows`` rate-limit windows are held, the oldest written
    goes first (an evicted window restarts its count; an evicted reply can no longer be
    replayed).

    Expiries wait in a heap, soonest first, so each operation drops only what has expired by
    then: a periodic scan of every entry would cost in proportion to the entries held (up to
    ``max_values``, kept a day) and stall every request in flight while it ran.
    """

    def __init__(
        self,
        prefix: str = "",
        clock: Clock = time.monotonic,
        *,
        max_values: int = 100_000,
        max_windows: int = 100_000,
    ) -> None:
        self._prefix = prefix
        self._clock = clock
        self._values: dict[str, tuple[bytes, float]] = {}
        self._counters: dict[str, tuple[int, float]] = {}
        self._max_values, self._max_windows = max_values, max_windows
        # (expiry, 0 for a value or 1 for a window, full key) of each write, soonest first; an
        # item whose entry was rewritten or evicted since is skipped when it comes up.
        self._expiries: list[tuple[float, int, str]] = []

    async def incr_window(self, key: str, window_s: int) -> tuple[int, float]:
        self._purge()
        now, full = self._clock(), self._prefix + key
        count, expires = self._counters.get(full, (0, 0.0))
        if expires <= now:
            count, expires = 0, now + window_s
            self._expire_at(expires, 1, full)
        _bounded_set(self._counters, full, (count + 1, expires), self._max_windows)
        return count + 1, expires - now

    async def put_if_absent(self, key: str, value: bytes, ttl_s: int) -> bytes | None:
        self._purge()
        existing = self._live(self._prefix + key)
        if existing is None:
            await self.put(key, value, ttl_s)
        return existing

    async def put(self, key: str, value: bytes, ttl_s: int) -> None:
        entry = (value, self._clock() + ttl_s)
        _bounded_set(self._values, self._prefix + key, entry, self._max_values)
        self._expire_at(entry[1], 0, self._prefix + key)

    async def delete(self, key: str) -> None:
        self._values.pop(self._prefix + key, None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._values.clear()
        self._counters.clear()
        self._expiries.clear()

    def __len__(self) -> int:
        """Values and windows held (expired ones included until purged)."""
        return len(self._values) + len(self._counters)

    def _live(self, full_key: str) -> bytes | None:
        entry = self._values.get(full_key)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def _purge(self) -> None:
        """Drop every entry that has expired; costs only the heap items that come due."""
        now, heap = self._clock(), self._expiries
        while heap and heap[0][0] <= now:
            _, kind, full = heapq.heappop(heap)
            entries: dict[str, Any] = self._counters if kind else self._values
            entry = entries.get(full)
            if entry is not None and entry[1] <= now:
                del entries[full]

    def _expire_at(self, when: float, kind: int, full: str) -> None:
        heapq.heappush(self._expiries, (when, kind, full))
        # Rewritten and evicted entries leave items behind: rebuild from the live entries
        # once they are most of the heap (amortised O(log n) a write).
        if len(self._expiries) > 2 * (len(self._values) + len(self._counters)) + 1024:
            self._expiries = [(e[1], 0, k) for k, e in self._values.items()]
            self._expiries += [(c[1], 1, k) for k, c in self._counters.items()]
            heapq.heapify(self._expiries)


def _bounded_set(entries: dict[str, _T], key: str, value: _T, limit: int) -> None:
    """Set ``key`` as the newest entry; drop the oldest while more than ``limit`` are held."""
    entries.pop(key, None)  # dicts keep insertion order: re-inserting makes it the newest
    entries[key] = value
    while len(entries) > limit:
        del entries[next(iter(entries))]


class RedisGuardStore:
    """Shared store in Redis (``redis.asyncio``); needs Redis >= 7 for ``EXPIRE NX``."""

    def __init__(self, host: str, port: int, prefix: str = "tonebridge:api:") -> None:
        import redis.asyncio as redis
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        self._redis = redis.Redis(host=host, port=port, socket_timeout=5)
        self._prefix = prefix
        self._outages = (RedisConnectionError, RedisTimeoutError, OSError)

    @asynccontextmanager
    async def _reachable(self) -> AsyncIterator[None]:
        """Redis that does not answer is a retryable StoreUnavailableError (the API's 503)."""
        try:
            yield
        except self._outages as exc:
            msg = f"the rate-limit and idempotency store (Redis) is unavailable: {exc}"
            raise StoreUnavailableError(msg) from exc

    async def incr_window(self, key: str, window_s: int) -> tuple[int, float]:
        full = self._prefix + key
        async with self._reachable(), self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(full)
            pipe.expire(full, window_s, nx=True)
            pipe.pttl(full)
            count, _, pttl = await pipe.execute()
        return int(count), max(int(pttl), 0) / 1000

    async def put_if_absent(self, key: str, value: bytes, ttl_s: int) -> bytes | None:
        # SET NX GET answers "was it there, and what was it" in one atomic round trip.
        async with self._reachable():
            full = self._prefix + key
            existing = await self._redis.set(full, value, ex=ttl_s, nx=True, get=True)
        return existing if isinstance(existing, bytes) else None

    async def put(self, key: str, value: bytes, ttl_s: int) -> None:
        async with self._reachable():
            await self._redis.set(self._prefix + key, value, ex=ttl_s)

    async def delete(self, key: str) -> None:
        async with self._reachable():
            await self._redis.delete(self._prefix + key)

    async def ping(self) -> None:
        async with self._reachable():
            await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def open_guard_store(settings: Settings, prefix: str = "tonebridge:api:") -> GuardStore:
    """Redis when ``REDIS_HOST`` is set, else per-process memory."""
    if settings.redis_host:
        return RedisGuardStore(settings.redis_host, settings.redis_port, prefix)
    return MemoryGuardStore(
        prefix,
        max_values=settings.api_idempotency_max_keys,
        max_windows=settings.api_rate_limit_max_buckets,
    )


def retry_after_seconds(reset_in_s: float) -> int:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(reset_in_s))
