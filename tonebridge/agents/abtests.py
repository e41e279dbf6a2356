"""The ``judge_ab_tests`` agent: per-arm statistics of every A/B test and its verdict.

Commands (create/stop) and inference outcomes are co-partitioned by test id, so one agent
sees a test's definition and all its outcomes and keeps the test in one table value. After
each message the test is looked at once; a final decision is published as an ABTestVerdict,
stored in ``ab_tests``, and ends the test. A guardrail breach also asks the registry to roll
the offending model back (a ModelCommand), and a lost test may trigger retraining.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tonebridge.agents import ab_state
from tonebridge.agents.ab_state import Effects, TestState
from tonebridge.agents.intake import Item, Origin, Reject, read_message, require_partition, screen
from tonebridge.agents.outbox import Outbox, send_dead_letters
from tonebridge.agents.policies import Policy, on_lost_test, training_command
from tonebridge.agents.tables import ExactTable
from tonebridge.agents.watermarks import source_id
from tonebridge.topics.abtest import AB_TEST_COMMAND, ABTEST_VERDICTS_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOME
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC


class VerdictStore(Protocol):
    async def record(self, test_id: str, winner_model_id: str | None, results: Any) -> None:
        """End the test in the database with its results (idempotent)."""


@dataclass(frozen=True)
class ABContext:
    table: ExactTable[TestState]
    outbox: Outbox
    verdicts: VerdictStore | None = None
    policies: tuple[Policy, ...] = ()


def test_key(item: Item) -> str | None:
    """The test an item belongs to; None for an outcome outside any A/B test."""
    if item.name == AB_TEST_COMMAND:
        return str(item.record["test_id"])
    test_id = item.record.get("ab_test_id")
    return None if test_id is None else str(test_id)


def items_by_test(
    items: Sequence[Item], origin: Origin, partitions: int
) -> tuple[dict[str, list[Item]], list[Reject]]:
    grouped: dict[str, list[Item]] = defaultdict(list)

    def check(item: Item) -> None:
        key = test_key(item)
        if key is not None:
            require_partition(key, origin, partitions)
            grouped[key].append(item)

    _, rejects = screen(items, check)
    return grouped, rejects


async def judge_message(ctx: ABContext, origin: Origin, payload: Any) -> None:
    """Apply one message of commands or outcomes exactly once to the tests it names."""
    intake = read_message(payload, (AB_TEST_COMMAND, INFERENCE_OUTCOME))
    grouped, rejects = items_by_test(intake.items, origin, ctx.table.partitions)
    rejects = [*intake.rejects, *rejects]
    source = source_id(origin.topic, origin.partition)
    changed: list[tuple[str, TestState, Effects]] = []
    for test_id, items in grouped.items():
        state = ctx.table.get(test_id)
        new, effects, bad = ab_state.apply(state, items, source, origin.offset)
        rejects.extend(bad)
        if new is not None and new is not state:
            changed.append((test_id, new, effects))
    await send_dead_letters(ctx.outbox, origin, rejects)
    for test_id, new, effects in changed:
        await publish(ctx, test_id, effects)
        await ctx.table.put(test_id, new, origin.partition)


async def publish(ctx: ABContext, test_id: str, effects: Effects) -> None:
    """Send a decided test's verdict, rollbacks and retraining commands; store its result."""
    verdict = effects.verdict
    if verdict is None:
        return
    when = datetime.fromtimestamp(verdict["event_time"] / 1000, tz=UTC)
    await ctx.outbox.send(ABTEST_VERDICTS_TOPIC, {**verdict, "event_time": when})
    reason = str(verdict.get("reason") or verdict["decision"])
    for model_id in effects.rollback:
        await ctx.outbox.send(MODEL_COMMANDS_TOPIC, rollback_command(test_id, model_id, when))
    by_name = {p.name: p for p in ctx.policies}
    for trigger in on_lost_test(ctx.policies, test_id, effects.losers, reason):
        command = training_command(trigger, by_name[trigger.policy], when, None)
        await ctx.outbox.send(TRAINING_COMMANDS_TOPIC, command)
    if ctx.verdicts is not None:
        winner = verdict.get("winner_model_id") if verdict["decision"] == "winner" else None
        results = effects.decision.to_dict() if effects.decision else _stopped(verdict)
        await ctx.verdicts.record(test_id, winner, results)


def rollback_command(test_id: str, model_id: str, when: datetime) -> dict[str, Any]:
    """The ModelCommand asking the registry to roll ``model_id`` back (deterministic id)."""
    command_id = ab_state.effect_id(test_id, f"rollback|{model_id}")
    return {
        "event_id": command_id,
        "event_time": when,
        "command_id": command_id,
        "action": "rollback",
        "model_id": model_id,
        "requested_by": f"abtest:{test_id}",
        "reason": f"guardrail violated in A/B test {test_id}",
    }


def _stopped(verdict: Mapping[str, Any]) -> dict[str, Any]:
    return {"decision": "stopped", "samples": verdict.get("samples", {})}
