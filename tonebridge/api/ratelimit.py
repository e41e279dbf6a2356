"""Per-key request limits: a fixed one-minute window counted in the guard store.

A fixed window lets a client burst up to twice the limit across a window boundary; that is
acceptable for protecting the broker and keeps the Redis work to one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

from tonebridge.api.guard_store import GuardStore, retry_after_seconds


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


class RateLimiter:
    def __init__(self, store: GuardStore, limit: int, window_s: int = 60) -> None:
        self._store = store
        self.limit = limit
        self.window_s = window_s

    async def hit(self, bucket: str) -> RateDecision:
        """Count one request for ``bucket`` and say whether it may go ahead."""
        count, reset_in = await self._store.incr_window(f"rl:{bucket}", self.window_s)
        return RateDecision(
            allowed=count <= self.limit,
            limit=self.limit,
            remaining=max(self.limit - count, 0),
            retry_after_s=retry_after_seconds(reset_in),
        )
