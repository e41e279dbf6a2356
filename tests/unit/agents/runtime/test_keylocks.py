"""Per-key locks exclude each other per key and leave nothing behind."""

from __future__ import annotations

import asyncio

from tonebridge.agents.runtime.keylocks import KeyLocks

BOOM = "boom"


async def test_a_key_is_held_by_one_at_a_time_and_forgotten_after() -> None:
    locks, order = KeyLocks(), []
    first_in = asyncio.Event()

    async def hold(name: str) -> None:
        async with locks.held("ab-1"):
            order.append(f"{name} in")
            first_in.set()
            await asyncio.sleep(0)
            order.append(f"{name} out")

    first = asyncio.create_task(hold("a"))
    await first_in.wait()
    second = asyncio.create_task(hold("b"))
    await asyncio.sleep(0)
    assert len(locks) == 1
    await asyncio.gather(first, second)
    assert order == ["a in", "a out", "b in", "b out"]
    assert len(locks) == 0


async def test_many_keys_leave_no_locks_even_when_the_body_fails() -> None:
    locks = KeyLocks()
    for n in range(1000):
        async with locks.held(f"unknown-{n}"):
            pass
    try:
        async with locks.held("boom"):
            raise RuntimeError(BOOM)
    except RuntimeError:
        pass
    assert len(locks) == 0
