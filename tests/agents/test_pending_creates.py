"""The outcomes agent and a create it has not seen: wait briefly, else read the commands."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.support.agents import command_message, create_test, outcome, outcome_message
from tonebridge.agents.abtests import judge_batch
from tonebridge.agents.app import Worker
from tonebridge.topics.messages import Message


class PendingReads:
    """Stands in for the commands topic read (the agent's broker side-read)."""

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        self.partitions: list[int] = []

    async def read(self, partition: int) -> list[Message]:
        self.partitions.append(partition)
        return self.messages


async def test_a_create_applied_meanwhile_spares_the_read(worker: Worker) -> None:
    create = command_message(create_test("ab-1"), 0)
    pending = PendingReads([create])
    ctx = replace(worker.abtests, pending_commands=pending.read)

    async def commands_agent() -> None:
        await asyncio.sleep(0.01)  # the create lands while the outcomes agent waits
        await judge_batch(worker.abtests, [create])

    applying = asyncio.create_task(commands_agent())
    await judge_batch(ctx, [outcome_message([outcome("ab-1")], 0)])
    await applying
    assert pending.partitions == []
    state = ctx.table.get("ab-1")
    assert state is not None and sum(a.assigned for a in state.stats.arms.values()) == 1


async def test_a_create_still_pending_is_read_from_the_commands(worker: Worker) -> None:
    create = command_message(create_test("ab-2"), 0)
    pending = PendingReads([create])
    ctx = replace(worker.abtests, pending_commands=pending.read)
    await judge_batch(ctx, [outcome_message([outcome("ab-2")], 0)])
    assert pending.partitions == [create[0].partition]
    state = ctx.table.get("ab-2")
    assert state is not None and sum(a.assigned for a in state.stats.arms.values()) == 1


def assigned(worker: Worker, test_id: str) -> int:
    state = worker.abtests.table.get(test_id)
    return -1 if state is None else sum(a.assigned for a in state.stats.arms.values())


async def test_known_tests_are_judged_before_the_wait_for_a_new_ones_create(
    worker: Worker,
) -> None:
    await judge_batch(worker.abtests, [command_message(create_test("ab-known"), 0)])
    create = command_message(create_test("ab-new"), 1)
    ctx = replace(worker.abtests, pending_commands=PendingReads([create]).read)
    batch = [outcome_message([outcome(t)], n) for n, t in enumerate(("ab-known", "ab-new"))]
    judging = asyncio.create_task(judge_batch(ctx, batch))
    await asyncio.sleep(0.01)  # the outcomes agent now waits for ab-new's create
    assert (assigned(worker, "ab-known"), assigned(worker, "ab-new")) == (1, -1)
    await judge_batch(worker.abtests, [create])  # the commands agent applies it meanwhile
    await judging
    assert (assigned(worker, "ab-known"), assigned(worker, "ab-new")) == (1, 1)
