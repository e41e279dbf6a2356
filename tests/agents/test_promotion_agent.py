"""``promote_models`` in a faust test context: the agent registered on the worker's app."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tonebridge.agents.app import Roles, Wiring, create_app
from tonebridge.agents.promotion import PromotionContext, register_promotion
from tonebridge.avro.codec import encode
from tonebridge.decisions.promotion import DEFAULT_POLICY, TREATMENT, promotion_test_id
from tonebridge.settings import load_settings
from tonebridge.topics.spec import TopicSpec

WHEN = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


class MemoryOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def publish(
        self, spec: TopicSpec, *records: Mapping[str, Any], schema: str | None = None
    ) -> None:
        for record in records:
            spec.encode(record, schema)
            self.sent.append((spec.base, dict(record)))


class Production:
    async def production_id(self, name: str) -> str | None:
        return "m-prod"


async def test_the_agent_starts_a_test_then_deploys_its_winner(unique: str) -> None:
    settings = load_settings(kafka_topic_prefix=f"t-{unique}.", worker_id=f"w-{unique}")
    outbox = MemoryOutbox()
    no_roles = Roles(stats=False, abtests=False, sink=False, promotion=False)
    worker = create_app(settings, Wiring(outbox=outbox, durable=False), no_roles)
    register_promotion(worker, settings, PromotionContext(DEFAULT_POLICY, outbox, Production()))
    registered = encode("ModelRegistered", {
        "event_id": "r-1", "event_time": WHEN, "model_id": "m-new", "name": "tone",
        "version": "2", "base_model": "tiny", "model_type": "tone_adjustment", "job_id": "j-1",
        "artifact_uri": "file:///a",
        "metrics": {"chrf": 70.0, "baseline_chrf": 1.0, "vs_baseline_verdict": 1.0},
    })  # fmt: skip
    verdict = encode("ABTestVerdict", {
        "event_id": "v-1", "event_time": WHEN, "test_id": promotion_test_id("m-new", "r-1"),
        "decision": "winner", "winner_arm": TREATMENT, "winner_model_id": "m-new",
        "metric": "rating", "effect": 2.0,
    })  # fmt: skip
    try:
        async with worker.agents["promote_models"].test_context() as agent:
            await agent.put(key=b"tone", value=registered)
            await agent.put(key=promotion_test_id("m-new", "r-1").encode(), value=verdict)
    finally:
        # take_events makes faust create its consumer, whose thread owns an event loop the
        # test context never runs: close it, or it is reported unclosed.
        worker.app.consumer._thread.thread_loop.close()
    assert [(topic, r.get("action")) for topic, r in outbox.sent] == [
        ("tonebridge.abtest.commands.v1", "create"),
        ("tonebridge.models.commands.v1", "deploy"),
    ]
