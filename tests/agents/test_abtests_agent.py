from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

from tests.agents.conftest import MemoryVerdicts, eventually
from tests.support.agents import T0, MemoryOutbox, create_test, encoded, outcome
from tonebridge.agents.abtests import end_tests_by_time
from tonebridge.agents.app import Worker
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC
from tonebridge.topics.spec import TopicSpec, partition_for
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC


async def put(ctx: Any, spec: TopicSpec, records: list[dict[str, Any]]) -> None:
    key, value = encoded(spec, records)
    await ctx.put(value, key=key, partition=partition_for(key, 4))


async def define(worker: Worker, record: dict[str, Any]) -> None:
    async with worker.agents["define_ab_tests"].test_context() as ctx:
        await put(ctx, ABTEST_COMMANDS_TOPIC, [record])
        await eventually(lambda: worker.abtests.table.get(record["test_id"]) is not None)


def arms(n: int, rates: tuple[float, float], **extra: Any) -> list[dict[str, Any]]:
    return [
        outcome(arm=arm, n=i, success=(i % 10) < 10 * rate, **extra)
        for i in range(n)
        for arm, rate in (("control", rates[0]), ("treatment", rates[1]))
    ]


async def test_a_winner_is_published_stored_and_retrains_the_loser(worker: Worker) -> None:
    outbox = cast(MemoryOutbox, worker.abtests.outbox)
    await define(worker, create_test(min_samples=20))
    async with worker.agents["judge_ab_tests"].test_context() as ctx:
        records = arms(200, (0.2, 0.8))
        for start in range(0, len(records), 40):
            await put(ctx, INFERENCE_OUTCOMES_TOPIC, records[start : start + 40])
        await eventually(lambda: bool(outbox.on(ABTEST_VERDICTS_TOPIC)))
    [verdict] = outbox.on(ABTEST_VERDICTS_TOPIC)
    assert (verdict["decision"], verdict["winner_model_id"]) == ("winner", "ab-1-new")
    state = worker.abtests.table.get("ab-1")
    assert state is not None and state.status == "decided"
    verdicts = cast(MemoryVerdicts, worker.abtests.verdicts)
    assert [(t, w) for t, w, _ in verdicts.recorded] == [("ab-1", "ab-1-new")]
    [command] = outbox.on(TRAINING_COMMANDS_TOPIC)
    assert (command["model_id"], command["kind"]) == ("ab-1-old", "dpo")
    assert not outbox.on(MODEL_COMMANDS_TOPIC)


async def test_a_guardrail_breach_requests_a_rollback(worker: Worker) -> None:
    outbox = cast(MemoryOutbox, worker.abtests.outbox)
    await define(worker, create_test(min_samples=20, guardrail="latency_ms"))
    async with worker.agents["judge_ab_tests"].test_context() as ctx:
        for n in range(0, 300, 30):
            records = [
                outcome(arm=arm, n=n + i, success=True, metrics={"latency_ms": ms + i % 5})
                for i in range(30)
                for arm, ms in (("control", 100.0), ("treatment", 300.0))
            ]
            await put(ctx, INFERENCE_OUTCOMES_TOPIC, records)
        await eventually(lambda: bool(outbox.on(MODEL_COMMANDS_TOPIC)))
    [rollback] = outbox.on(MODEL_COMMANDS_TOPIC)
    assert (rollback["action"], rollback["model_id"]) == ("rollback", "ab-1-new")
    assert outbox.on(ABTEST_VERDICTS_TOPIC)[0]["decision"] == "guardrail_violation"


async def test_unknown_tests_and_arms_are_dead_lettered(worker: Worker) -> None:
    outbox = cast(MemoryOutbox, worker.abtests.outbox)
    await define(worker, create_test("ab-1"))
    async with worker.agents["judge_ab_tests"].test_context() as ctx:
        await put(ctx, INFERENCE_OUTCOMES_TOPIC, [outcome("ab-404", n=1)])
        await put(ctx, INFERENCE_OUTCOMES_TOPIC, [outcome(n=2), outcome(arm="ghost", n=3)])
        await eventually(lambda: len(outbox.on(DEADLETTER_TOPIC)) == 2)
    reasons = sorted(letter["reason"] for letter in outbox.on(DEADLETTER_TOPIC))
    assert "unknown A/B test 'ab-404'" in reasons[1]
    assert "'ghost' is not an arm" in reasons[0]
    state = worker.abtests.table.get("ab-1")
    assert state is not None and state.stats.arms["treatment"].assigned == 1


async def test_an_idle_test_ends_by_the_timer_once_with_no_traffic(worker: Worker) -> None:
    outbox = cast(MemoryOutbox, worker.abtests.outbox)
    await define(worker, create_test(min_samples=20, idle_timeout_seconds=3600))
    table = worker.abtests.table
    other = {p for p in range(4) if p != table.partition_of("ab-1")}
    assert await end_tests_by_time(worker.abtests, T0 + timedelta(hours=2), other) == []
    assert await end_tests_by_time(worker.abtests, T0 + timedelta(minutes=59)) == []
    assert await end_tests_by_time(worker.abtests, T0 + timedelta(hours=2)) == ["ab-1"]
    assert await end_tests_by_time(worker.abtests, T0 + timedelta(hours=3)) == []
    [verdict] = outbox.on(ABTEST_VERDICTS_TOPIC)
    assert (verdict["decision"], verdict["reason"]) == (
        "no_traffic",
        "no outcome since the start for 1 h",
    )
    assert verdict["event_time"] == T0 + timedelta(hours=1)
    state = table.get("ab-1")
    assert state is not None and state.status == "stopped"
    verdicts = cast(MemoryVerdicts, worker.abtests.verdicts)
    [(test_id, winner, results)] = verdicts.recorded
    assert (test_id, winner, results["decision"]) == ("ab-1", None, "no_traffic")
    assert not outbox.on(TRAINING_COMMANDS_TOPIC)  # nobody lost: nothing to retrain
    async with worker.agents["judge_ab_tests"].test_context() as ctx:
        await put(ctx, INFERENCE_OUTCOMES_TOPIC, [outcome(n=1)])
        await eventually(lambda: len(outbox.on(DEADLETTER_TOPIC)) == 1)
    assert "finished (stopped)" in outbox.on(DEADLETTER_TOPIC)[0]["reason"]


async def test_a_test_with_a_horizon_is_decided_by_the_horizon_aware_test(worker: Worker) -> None:
    outbox = cast(MemoryOutbox, worker.abtests.outbox)
    await define(worker, {**create_test(min_samples=20), "expected_samples": 200})
    async with worker.agents["judge_ab_tests"].test_context() as ctx:
        records = arms(200, (0.2, 0.8))
        for start in range(0, len(records), 40):
            await put(ctx, INFERENCE_OUTCOMES_TOPIC, records[start : start + 40])
        await eventually(lambda: bool(outbox.on(ABTEST_VERDICTS_TOPIC)))
    [verdict] = outbox.on(ABTEST_VERDICTS_TOPIC)
    assert (verdict["decision"], verdict["winner_model_id"]) == ("winner", "ab-1-new")
    assert verdict["reason"].endswith("(horizon test)")
    assert json.loads(verdict["results_json"])["test"] == "horizon"
    assert verdict["ci_low"] <= verdict["effect"] <= verdict["ci_high"]
