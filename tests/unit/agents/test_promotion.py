"""The promotion agent's message handling: decode, decide, send (memory outbox, no Kafka)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tonebridge.agents.promotion import (
    DatabasePromotionTests,
    PromotionContext,
    promote_message,
)
from tonebridge.avro.codec import encode, encode_batch
from tonebridge.decisions.promotion import (
    CONTROL,
    DEFAULT_POLICY,
    TREATMENT,
    PromotionPolicy,
    promotion_test_id,
)
from tonebridge.errors import NotFoundError
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.messages import Origin
from tonebridge.topics.spec import TopicSpec

WHEN = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
ORIGIN = Origin("tonebridge.models.events.v1", 0, 42, b"tone")


class MemoryOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def publish(
        self, spec: TopicSpec, *records: Mapping[str, Any], schema: str | None = None
    ) -> None:
        for record in records:
            spec.encode(record, schema)  # what the faust outbox would refuse, this refuses too
            self.sent.append((spec.base, dict(record)))


class Production:
    def __init__(self, model_id: str | None) -> None:
        self.model_id = model_id
        self.asked: list[str] = []

    async def production_id(self, name: str) -> str | None:
        self.asked.append(name)
        return self.model_id


class RecordedTests:
    def __init__(self, running: str | None = None) -> None:
        self.recorded: list[tuple[str, Mapping[str, Any]]] = []
        self.running_test = running

    async def record(self, name: str, command: Mapping[str, Any]) -> None:
        self.recorded.append((name, command))

    async def running(self, name: str) -> str | None:
        return self.running_test


def context(
    production: str | None = "m-prod", policy: PromotionPolicy = DEFAULT_POLICY
) -> tuple[PromotionContext, MemoryOutbox, RecordedTests]:
    outbox, tests = MemoryOutbox(), RecordedTests()
    return PromotionContext(policy, outbox, Production(production), tests), outbox, tests


def registered(model_id: str = "m-new", **metrics: float) -> bytes:
    return encode("ModelRegistered", {
        "event_id": f"reg-{model_id}", "event_time": WHEN, "model_id": model_id,
        "name": "tone", "version": "2", "base_model": "tiny", "model_type": "tone_adjustment",
        "job_id": "job-1", "artifact_uri": "file:///a",
        "metrics": metrics or {"chrf": 60.0, "baseline_chrf": 1.0, "vs_baseline_verdict": 1.0},
    })  # fmt: skip


def verdict(winner_arm: str = TREATMENT) -> bytes:
    winner = "m-new" if winner_arm == TREATMENT else "m-prod"
    return encode("ABTestVerdict", {
        "event_id": "v-1", "event_time": WHEN, "test_id": promotion_test_id("m-new", "reg-m-new"),
        "decision": "winner", "winner_arm": winner_arm, "winner_model_id": winner,
        "metric": "rating", "effect": 2.0, "p_values": {f"{winner_arm}/rating": 1e-6},
    })  # fmt: skip


def changed() -> bytes:
    return encode("ModelChanged", {
        "event_id": "c-1", "event_time": WHEN, "model_id": "m-new", "name": "tone",
        "version": "2", "change": "deployed", "artifact_uri": "file:///a",
    })  # fmt: skip


async def test_a_better_registered_model_starts_and_records_a_promotion_test() -> None:
    ctx, outbox, tests = context()
    await promote_message(ctx, ORIGIN, registered())
    assert [topic for topic, _ in outbox.sent] == ["tonebridge.abtest.commands.v1"]
    command = outbox.sent[0][1]
    assert command["test_id"] == promotion_test_id("m-new", "reg-m-new")
    assert [(a["arm_id"], a["model_id"]) for a in command["arms"]] == [
        (CONTROL, "m-prod"),
        (TREATMENT, "m-new"),
    ]
    assert tests.recorded == [("tone", command)]
    assert ctx.production.asked == ["tone"]  # type: ignore[attr-defined]


async def test_a_better_newcomer_stops_the_running_test_then_starts_its_own() -> None:
    outbox = MemoryOutbox()
    older = promotion_test_id("m-older", "reg-m-older")
    tests = RecordedTests(running=older)
    ctx = PromotionContext(DEFAULT_POLICY, outbox, Production("m-prod"), tests)
    await promote_message(ctx, ORIGIN, registered())
    assert [(topic, r["action"], r["test_id"]) for topic, r in outbox.sent] == [
        (ABTEST_COMMANDS_TOPIC.base, "stop", older),
        (ABTEST_COMMANDS_TOPIC.base, "create", promotion_test_id("m-new", "reg-m-new")),
    ]
    assert [name for name, _ in tests.recorded] == ["tone"]


async def test_without_supersede_no_second_promotion_test_while_one_runs() -> None:
    outbox = MemoryOutbox()
    tests = RecordedTests(running=promotion_test_id("m-older", "reg-m-older"))
    policy = DEFAULT_POLICY.model_copy(update={"supersede": False})
    ctx = PromotionContext(policy, outbox, Production("m-prod"), tests)
    await promote_message(ctx, ORIGIN, registered())
    assert outbox.sent == [] and tests.recorded == []


async def test_a_worse_model_starts_nothing() -> None:
    ctx, outbox, tests = context()
    await promote_message(ctx, ORIGIN, registered(chrf=1.0, baseline_chrf=2.0))
    assert outbox.sent == [] and tests.recorded == []


async def test_a_won_test_deploys_and_a_lost_one_does_not() -> None:
    ctx, outbox, _ = context()
    await promote_message(ctx, ORIGIN, encode_batch([verdict(CONTROL), verdict()]))
    assert [(topic, r["action"], r["model_id"]) for topic, r in outbox.sent] == [
        ("tonebridge.models.commands.v1", "deploy", "m-new")
    ]


async def test_model_changes_are_read_and_ignored() -> None:
    ctx, outbox, _ = context()
    await promote_message(ctx, ORIGIN, changed())
    assert outbox.sent == []


async def test_undecodable_events_are_dead_lettered_with_their_place() -> None:
    ctx, outbox, _ = context()
    await promote_message(ctx, ORIGIN, encode_batch([b"\xc3\x01garbage!", registered()]))
    topics = [topic for topic, _ in outbox.sent]
    assert topics == ["tonebridge.deadletter.v1", "tonebridge.abtest.commands.v1"]
    letter = outbox.sent[0][1]
    assert (letter["source_topic"], letter["source_offset"]) == (ORIGIN.topic, 42)


async def test_without_production_the_model_is_deployed_at_once() -> None:
    ctx, outbox, _ = context(production=None)
    await promote_message(ctx, ORIGIN, registered())
    assert [(topic, r["action"]) for topic, r in outbox.sent] == [
        ("tonebridge.models.commands.v1", "deploy")
    ]


class Refusing:
    async def create(self, **_: Any) -> None:
        msg = "model m-prod"
        raise NotFoundError(msg)

    async def list(self, **_: Any) -> list[Any]:
        return []


async def test_a_test_the_database_refuses_still_runs_on_the_topic() -> None:
    outbox = MemoryOutbox()
    ctx = PromotionContext(
        DEFAULT_POLICY, outbox, Production("m-prod"), DatabasePromotionTests(Refusing())
    )
    await promote_message(ctx, ORIGIN, registered())
    assert [topic for topic, _ in outbox.sent] == ["tonebridge.abtest.commands.v1"]
