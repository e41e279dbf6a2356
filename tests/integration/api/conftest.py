"""Fixtures for the API tests: guard stores on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from tonebridge.api.guard_store import GuardStore, MemoryGuardStore, RedisGuardStore

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


async def drop_redis_prefix(prefix: str) -> None:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def guard_store(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[GuardStore]:
    """The same tests run against per-process memory and a real Redis."""
    prefix = f"tonebridge-test:{unique}:"
    store: GuardStore
    if request.param == "redis":
        store = RedisGuardStore(REDIS_HOST, REDIS_PORT, prefix)
    else:
        store = MemoryGuardStore(prefix)
    yield store
    await store.close()
    if request.param == "redis":
        await drop_redis_prefix(prefix)
