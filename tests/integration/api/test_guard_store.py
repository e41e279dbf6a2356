from __future__ import annotations

import pytest

from tests.integration.api.helpers import closed_port
from tonebridge.api.guard_store import (
    GuardStore,
    MemoryGuardStore,
    RedisGuardStore,
    open_guard_store,
)
from tonebridge.api.ratelimit import RateLimiter
from tonebridge.errors import StoreUnavailableError
from tonebridge.settings import load_settings

pytestmark = pytest.mark.integration


async def test_incr_window_counts_hits_and_reports_reset(guard_store: GuardStore) -> None:
    counts = [(await guard_store.incr_window("w", 30))[0] for _ in range(3)]
    _, reset_in = await guard_store.incr_window("w", 30)
    assert counts == [1, 2, 3]
    assert 0 < reset_in <= 30


async def test_windows_are_per_key(guard_store: GuardStore) -> None:
    await guard_store.incr_window("a", 30)
    assert (await guard_store.incr_window("b", 30))[0] == 1


async def test_put_if_absent_keeps_the_first_value(guard_store: GuardStore) -> None:
    assert await guard_store.put_if_absent("k", b"first", 30) is None
    assert await guard_store.put_if_absent("k", b"second", 30) == b"first"


async def test_put_replaces_and_delete_frees(guard_store: GuardStore) -> None:
    await guard_store.put("k", b"v1", 30)
    await guard_store.put("k", b"v2", 30)
    assert await guard_store.put_if_absent("k", b"x", 30) == b"v2"
    await guard_store.delete("k")
    assert await guard_store.put_if_absent("k", b"v3", 30) is None


async def test_ping_answers(guard_store: GuardStore) -> None:
    await guard_store.ping()


async def test_rate_limiter_refuses_past_the_limit(guard_store: GuardStore) -> None:
    limiter = RateLimiter(guard_store, limit=3, window_s=60)
    decisions = [await limiter.hit("key-1") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert 1 <= decisions[-1].retry_after_s <= 60
    assert (await limiter.hit("key-2")).allowed


async def test_memory_values_and_windows_expire() -> None:
    now = [1000.0]
    store = MemoryGuardStore(clock=lambda: now[0])
    await store.put("k", b"v", 10)
    await store.incr_window("w", 10)
    now[0] += 10.5
    assert await store.put_if_absent("k", b"new", 10) is None
    assert await store.incr_window("w", 10) == (1, 10.0)


async def test_memory_store_purges_expired_entries() -> None:
    now = [0.0]
    store = MemoryGuardStore(clock=lambda: now[0])
    for i in range(1023):
        await store.put_if_absent(f"k{i}", b"v", 1 + i % 2)
    await store.incr_window("w", 1)
    now[0] = 1.5
    await store.put_if_absent("last", b"v", 1)  # any operation drops what has expired
    assert len(store._values) == 512 and "last" in store._values and not store._counters
    now[0] = 5.0
    await store.incr_window("w2", 10)
    assert list(store._values) == [] and list(store._counters) == ["w2"]


async def test_memory_store_keeps_a_rewritten_entry_to_its_new_expiry() -> None:
    now = [0.0]
    store = MemoryGuardStore(clock=lambda: now[0])
    assert await store.put_if_absent("idem", b"in flight", 2) is None
    await store.put("idem", b"done", 100)
    now[0] = 50.0  # past the first expiry, whose heap item comes up and is skipped
    assert await store.put_if_absent("idem", b"again", 2) == b"done"


async def test_memory_store_expiry_heap_stays_bounded() -> None:
    """Rewrites and evictions leave heap items behind; the heap is rebuilt from the live
    entries before they pile up."""
    store = MemoryGuardStore(max_values=10)
    for i in range(20_000):
        await store.put(f"k{i % 50}", b"v", 3600)
    assert len(store._values) == 10
    assert len(store._expiries) <= 2 * 10 + 1024 + 1


def test_redis_is_chosen_when_a_host_is_set() -> None:
    assert type(open_guard_store(load_settings(redis_host=None))).__name__ == "MemoryGuardStore"
    redis_settings = load_settings(redis_host="127.0.0.1")
    assert type(open_guard_store(redis_settings)).__name__ == "RedisGuardStore"


async def test_memory_store_keeps_at_most_max_values_evicting_the_oldest_written() -> None:
    store = MemoryGuardStore(max_values=3)
    for key in ("a", "b", "c"):
        await store.put(key, key.encode(), 60)
    await store.put("a", b"a2", 60)  # rewritten: now the newest
    await store.put_if_absent("d", b"d", 60)
    assert len(store) == 3
    assert await store.put_if_absent("b", b"new", 60) is None  # "b" was the oldest: evicted
    assert await store.put_if_absent("a", b"x", 60) == b"a2"
    assert await store.put_if_absent("d", b"x", 60) == b"d"


async def test_memory_store_counts_at_most_max_windows() -> None:
    store = MemoryGuardStore(max_windows=2)
    for bucket in ("a", "a", "b", "c"):
        await store.incr_window(bucket, 60)
    assert len(store) == 2
    assert (await store.incr_window("c", 60))[0] == 2
    assert (await store.incr_window("a", 60))[0] == 1  # evicted: its window starts again


def test_the_memory_store_takes_its_bounds_from_the_settings() -> None:
    settings = load_settings(
        redis_host=None, api_idempotency_max_keys=7, api_rate_limit_max_buckets=9
    )
    store = open_guard_store(settings)
    assert isinstance(store, MemoryGuardStore)
    assert (store._max_values, store._max_windows) == (7, 9)


async def test_a_redis_that_does_not_answer_is_a_retryable_outage() -> None:
    store = RedisGuardStore("127.0.0.1", closed_port(), "tonebridge-test:down:")
    try:
        for attempt in (
            store.ping(),
            store.incr_window("k", 60),
            store.put_if_absent("k", b"v", 60),
            store.put("k", b"v", 60),
            store.delete("k"),
        ):
            with pytest.raises(StoreUnavailableError) as caught:
                await attempt
            assert caught.value.retryable
    finally:
        await store.close()
