"""The A/B agents: ``define_ab_tests`` (commands) and ``judge_ab_tests`` (outcomes).

Commands (create/stop) and inference outcomes are co-partitioned by test id, so one worker
sees a test's definition and all its outcomes and keeps the test in one table value. After
each message of outcomes the test is looked at once; a final decision is published as an
ABTestVerdict, stored in ``ab_tests``, and ends the test. A guardrail breach also asks the
registry to roll the offending model back (a ModelCommand), and a lost test may trigger
retraining.

Two agents, because a consumer reads two topics in no guaranteed order: when replaying a
backlog, outcomes can be read before the command that created their test. The outcomes agent
then reads the pending create command itself
(:mod:`tonebridge.agents.runtime.pending_commands`) before it calls a test unknown. A lock per
test keeps the two agents' updates of one value apart; a lock lives only while it is held
(:mod:`tonebridge.agents.runtime.keylocks`), so unknown test ids leave nothing behind.

Every record passes the input rules first (:mod:`tonebridge.decisions.abtest_input`): a producer
can bypass the API. A bad record, an outcome of an unknown or finished test or naming another
model than its arm serves, and a verdict the database refuses are dead letters with their
reason; the rest of the batch goes on (:mod:`tonebridge.agents.verdict_store`).

Each batch of messages is folded per test and the test is looked at once per batch.

Time limits (a maximum duration, an idle timeout) end a test even when no outcome comes at
all: a timer of the worker calls :func:`end_tests_by_time` with the clock's time, and the pure
rule (:mod:`tonebridge.decisions.abtest_limits`) says which tests reached a limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tonebridge import rules
from tonebridge.agents.runtime.dedup import SeenBatch
from tonebridge.agents.runtime.keylocks import KeyLocks
from tonebridge.agents.runtime.outbox import send_dead_letters
from tonebridge.agents.runtime.tables import ExactTable
from tonebridge.agents.verdict_store import VerdictStore as VerdictStore  # re-exported
from tonebridge.agents.verdict_store import store_verdict
from tonebridge.client.publisher import Publisher
from tonebridge.decisions import abtest_limits as limits
from tonebridge.decisions import abtest_state as ab_state
from tonebridge.decisions.abtest_input import check_item, outcomes_fit
from tonebridge.decisions.abtest_state import ABTestState, Effects, Part
from tonebridge.decisions.retraining import Policy, on_lost_test, trigger_command
from tonebridge.errors import InvalidEventError
from tonebridge.topics.abtests import (
    AB_TEST_COMMAND,
    ABTEST_COMMANDS_TOPIC,
    ABTEST_VERDICTS_TOPIC,
    abtest_verdict,
)
from tonebridge.topics.inference import INFERENCE_OUTCOME, INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.messages import (
    Item,
    Message,
    Origin,
    Reject,
    Rejected,
    screen,
)
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC, model_command
from tonebridge.topics.spec import read_merged, require_partition
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

DEFAULT_MAX_FUTURE = timedelta(minutes=5)  # the default of EVENT_TIME_MAX_FUTURE_S
SOURCES = (ABTEST_COMMANDS_TOPIC, INFERENCE_OUTCOMES_TOPIC)  # read as one stream


@dataclass(frozen=True)
class ABContext:
    table: ExactTable[ABTestState]
    outbox: Publisher
    verdicts: VerdictStore | None = None
    policies: tuple[Policy, ...] = ()
    # Reads the commands of a partition not yet committed; None: an unknown test is unknown.
    pending_commands: Callable[[int], Awaitable[list[Message]]] | None = None
    locks: KeyLocks = field(default_factory=KeyLocks)
    # How far ahead of a record's Kafka timestamp its event_time may lie (settings).
    max_future: timedelta = DEFAULT_MAX_FUTURE


def test_key(item: Item) -> str | None:
    """The test an item belongs to; None for an outcome outside any A/B test."""
    if item.name == AB_TEST_COMMAND:
        return str(item.record["test_id"])
    test_id = item.record.get("ab_test_id")
    return None if test_id is None else str(test_id)


def items_by_test(
    items: Sequence[Item], origin: Origin, partitions: int, max_future: timedelta
) -> tuple[dict[str, list[Item]], list[Reject]]:
    """Each test's valid items; rejects for the invalid ones. A message of outcomes is checked
    at once first; each item alone only if one of them is bad (or it holds a command)."""
    now = rules.reference_time(origin.timestamp_ms, datetime.now(UTC))
    if _outcomes_fit(items, now, max_future):
        grouped = _by_test(items)
        try:
            for key in grouped:
                require_partition(key, origin, partitions)
            return grouped, []
        except InvalidEventError:
            pass  # an outcome is on another test's partition: find which
    return _items_by_test_each(items, origin, partitions, now, max_future)


def _by_test(items: Sequence[Item]) -> dict[str, list[Item]]:
    """The items of A/B tests, grouped by test."""
    grouped: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        key = test_key(item)
        if key is not None:
            grouped[key].append(item)
    return grouped


def outcomes_millis(
    payload: Any, origin: Origin, partitions: int, max_future: timedelta
) -> list[Item] | None:
    """The outcomes of a message, if it is an EventBatch of outcomes that all pass the input
    rules (read with their times in epoch ms: cheaper); None if not, or if one may not (then
    read it with :func:`read_merged` and apply :func:`items_by_test`, which says why)."""
    items = INFERENCE_OUTCOMES_TOPIC.read_millis(payload)
    if items is None:
        return None
    now = rules.reference_time(origin.timestamp_ms, datetime.now(UTC))
    if not outcomes_fit([item.record for item in items], now, max_future, millis=True):
        return None
    try:
        for key in {item.record["ab_test_id"] for item in items} - {None}:
            require_partition(key, origin, partitions)
    except InvalidEventError:
        return None
    return items


def _outcomes_by_test(
    origin: Origin, outcomes: Sequence[Item], seen: SeenBatch | None
) -> dict[str, list[Item]]:
    """:func:`_by_test` of the outcomes not ``seen`` before (those of a test: the others are
    neither deduplicated nor grouped). Their ``ab_test_id`` passed the rules: a string or None.
    """
    if seen is not None:
        each_of_a_test = all(item.record["ab_test_id"] is not None for item in outcomes)
        outcomes = seen.fresh(origin, outcomes, None if each_of_a_test else _is_outcome)
    grouped: dict[str, list[Item]] = defaultdict(list)
    for item in outcomes:
        key = item.record["ab_test_id"]
        if key is not None:
            grouped[key].append(item)
    return grouped


def _items_by_test_each(
    items: Sequence[Item], origin: Origin, partitions: int, now: datetime, max_future: timedelta
) -> tuple[dict[str, list[Item]], list[Reject]]:
    grouped: dict[str, list[Item]] = defaultdict(list)

    def check(item: Item) -> None:
        check_item(item.name, item.record, now, max_future)
        key = test_key(item)
        if key is not None:
            require_partition(key, origin, partitions)
            grouped[key].append(item)

    _, rejects = screen(items, check)
    return grouped, rejects


def _outcomes_fit(items: Sequence[Item], now: datetime, max_future: timedelta) -> bool:
    """Whether every item is an outcome that passes the input rules (checked all at once)."""
    if any(item.name != INFERENCE_OUTCOME for item in items):
        return False
    return outcomes_fit([item.record for item in items], now, max_future)


def parts_by_test(
    batch: Sequence[Message],
    partitions: int,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
    seen: SeenBatch | None = None,
) -> tuple[dict[str, list[Part]], list[Rejected]]:
    """Each test's items of a batch, message by message; rejects not tied to a test.

    With ``seen``, a test's outcome whose id came before is skipped (:mod:`.dedup`).
    """
    parts: dict[str, list[Part]] = defaultdict(list)
    rejected: list[Rejected] = []
    for origin, payload in batch:
        outcomes = outcomes_millis(payload, origin, partitions, max_future)
        if outcomes is not None:  # the common case: a batch of valid outcomes
            grouped = _outcomes_by_test(origin, outcomes, seen)
        else:
            intake = read_merged(payload, SOURCES)
            items = intake.items if seen is None else seen.fresh(origin, intake.items, _is_outcome)
            grouped, bad = items_by_test(items, origin, partitions, max_future)
            rejected += [(origin, r) for r in (*intake.rejects, *bad)]
        for test_id, items in grouped.items():
            parts[test_id].append((origin, items))
    return parts, rejected


async def judge_batch(ctx: ABContext, batch: Sequence[Message]) -> None:
    """Apply a batch of command or outcome messages exactly once to the tests they name.

    The tests the table knows are judged first; only then does the outcomes agent wait for
    the creates of tests it does not know yet, so a test created a moment ago does not hold
    back the verdicts of the others. Within each of the two rounds, every test's effects
    (verdicts, rollbacks, commands) are sent before its table writes, so a verdict does not
    wait behind the other tests' changelog records.
    """
    seen = ctx.table.seen.batch()
    parts, rejected = parts_by_test(batch, ctx.table.partitions, ctx.max_future, seen)
    await send_dead_letters(ctx.outbox, rejected)
    unknown = _unknown(ctx, parts)
    await _judge_tests(ctx, {t: p for t, p in parts.items() if t not in unknown})
    if unknown:
        await _with_pending_creates(ctx, unknown)
        await _judge_tests(ctx, unknown)
    await ctx.table.store_seen(seen)


def _unknown(ctx: ABContext, parts: dict[str, list[Part]]) -> dict[str, list[Part]]:
    """The parts of tests the table does not hold yet, where their create may be pending."""
    if ctx.pending_commands is None:
        return {}
    return {t: p for t, p in parts.items() if ctx.table.get(t) is None}


async def _judge_tests(ctx: ABContext, parts: dict[str, list[Part]]) -> None:
    """Judge each test's parts under its lock; send all their effects, then write them."""
    async with contextlib.AsyncExitStack() as held:
        for test_id in sorted(parts):  # one order for both agents: no deadlock
            await held.enter_async_context(ctx.locks.held(test_id))
        writes = [
            await judge_test(ctx, test_id, test_parts) for test_id, test_parts in parts.items()
        ]
        for write in writes:
            if write is not None:
                await ctx.table.put(*write)


def _is_outcome(item: Item) -> bool:
    """An outcome of an A/B test: what is deduplicated (a repeated command changes nothing)."""
    return item.name == INFERENCE_OUTCOME and test_key(item) is not None


# How long the outcomes agent waits for the commands agent to apply a create it just read
# before reading the pending commands itself (a broker round trip or three).
CREATE_WAIT_S = 0.05


async def _with_pending_creates(ctx: ABContext, parts: dict[str, list[Part]]) -> None:
    """Put in front of an unknown test's parts its create command, if it is still pending."""
    unknown = [t for t in parts if ctx.table.get(t) is None]
    if ctx.pending_commands is None or not unknown:
        return
    # A test created a moment ago is usually being applied by the commands agent right now:
    # a short, bounded wait (no deadlock) is cheaper than reading the commands topic.
    deadline = asyncio.get_running_loop().time() + CREATE_WAIT_S
    while unknown and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.005)
        unknown = [t for t in unknown if ctx.table.get(t) is None]
    if not unknown:
        return
    for partition in sorted({parts[t][0][0].partition for t in unknown}):
        pending = await ctx.pending_commands(partition)
        commands, _ = parts_by_test(pending, ctx.table.partitions, ctx.max_future)
        for test_id in unknown:
            creates = [(o, _creates(items)) for o, items in commands.get(test_id, [])]
            parts[test_id][:0] = [(o, items) for o, items in creates if items]


def _creates(items: Sequence[Item]) -> list[Item]:
    return [i for i in items if i.name == AB_TEST_COMMAND and i.record["action"] == "create"]


async def judge_test(
    ctx: ABContext, test_id: str, parts: Sequence[Part]
) -> tuple[str, ABTestState, int] | None:
    """One test's part of a batch: send its rejects and effects; return the write to make."""
    state = ctx.table.get(test_id)
    new, effects, rejected = ab_state.apply(state, parts)
    await send_dead_letters(ctx.outbox, rejected)
    if new is None or new is state:
        return None
    await publish(ctx, test_id, effects, parts[-1][0])
    return test_id, new, parts[-1][0].partition


async def publish(ctx: ABContext, test_id: str, effects: Effects, origin: Origin) -> None:
    """Send a decided test's verdict, rollbacks and retraining commands; store its result."""
    verdict = effects.verdict
    if verdict is None:
        return
    when = datetime.fromtimestamp(verdict["event_time"] / 1000, tz=UTC)
    record = abtest_verdict(**{**verdict, "event_time": when})  # the table keeps epoch ms
    await ctx.outbox.publish(ABTEST_VERDICTS_TOPIC, record)
    reason = str(verdict.get("reason") or verdict["decision"])
    for model_id in effects.rollback:
        await ctx.outbox.publish(MODEL_COMMANDS_TOPIC, rollback_command(test_id, model_id, when))
    by_name = {p.name: p for p in ctx.policies}
    for trigger in on_lost_test(ctx.policies, test_id, effects.losers, reason):
        command = trigger_command(trigger, by_name[trigger.policy], when, None)
        await ctx.outbox.publish(TRAINING_COMMANDS_TOPIC, command)
    if ctx.verdicts is not None:
        results = effects.decision.to_dict() if effects.decision else _stopped(verdict)
        await store_verdict(ctx.verdicts, ctx.outbox, origin, record, results)


def rollback_command(test_id: str, model_id: str, when: datetime) -> dict[str, Any]:
    """The ModelCommand asking the registry to roll ``model_id`` back (deterministic id)."""
    command_id = ab_state.effect_id(test_id, f"rollback|{model_id}")
    return model_command(
        command_id=command_id,
        action="rollback",
        model_id=model_id,
        requested_by=f"abtest:{test_id}",
        reason=f"guardrail violated in A/B test {test_id}",
        event_id=command_id,
        event_time=when,
    )


def _stopped(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The stored results of a test ended by a command or a time limit: no statistics."""
    return {
        "decision": verdict["decision"],
        "samples": verdict.get("samples", {}),
        "reason": verdict.get("reason"),
    }


async def end_tests_by_time(
    ctx: ABContext, now: datetime, partitions: set[int] | None = None
) -> list[str]:
    """End the running tests (of ``partitions``) that reached a time limit by ``now``:
    send each one's verdict, then store it finished. Returns the ids of the tests ended."""
    now_ms = int(now.timestamp() * 1000)
    due = [t for t, state in ctx.table.items(partitions) if limits.reached(state, now_ms)]
    ended: list[str] = []
    for test_id in due:
        async with ctx.locks.held(test_id):  # an outcomes batch may be judging it right now
            state = ctx.table.get(test_id)
            new, effects = limits.end_by_time(state, now_ms) if state else (state, ab_state.NOTHING)
            if new is None or new is state:
                continue
            partition = ctx.table.partition_of(test_id)
            # No message decided it: a dead letter of a refused verdict names the table.
            origin = Origin(ctx.table.name, partition, -1, test_id.encode())
            await publish(ctx, test_id, effects, origin)
            await ctx.table.put(test_id, new, partition)
            ended.append(test_id)
    return ended
