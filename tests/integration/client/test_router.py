"""The experiment router on the embedded broker: it learns tests, verdicts and production from
their topics, routes, and its outcomes land with their test and arm."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.kafka import read_events
from tonebridge.broker import EmbeddedBroker
from tonebridge.client import ExperimentRouter, ProducerPublisher, SyncExperimentRouter
from tonebridge.errors import RouteError
from tonebridge.settings import Settings, load_settings
from tonebridge.topics.abtests import (
    ABTEST_COMMANDS_TOPIC,
    ABTEST_VERDICTS_TOPIC,
    abtest_command,
    abtest_verdict,
)
from tonebridge.topics.admin import create_topics
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.models import (
    MODEL_CHANGED,
    MODEL_EVENTS_TOPIC,
    MODEL_REGISTERED,
    model_changed,
    model_registered,
)

pytestmark = pytest.mark.integration
NAME = "tone-formal"
UNITS = [f"user-{n}" for n in range(200)]
TOPICS = (
    ABTEST_COMMANDS_TOPIC,
    ABTEST_VERDICTS_TOPIC,
    MODEL_EVENTS_TOPIC,
    INFERENCE_OUTCOMES_TOPIC,
)


@pytest.fixture
async def settings(broker: EmbeddedBroker, unique: str, tmp_path: Path) -> Settings:
    configured = load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_prefix=f"r{unique}.",
        kafka_topic_partitions=3,
        data_dir=tmp_path,
    )
    await create_topics(configured, TOPICS)
    return configured


def deployed(model_id: str) -> dict[str, Any]:
    return model_changed(
        model_id=model_id, name=NAME, version=model_id[-1], change="deployed", artifact_uri="a"
    )


def registered(model_id: str) -> dict[str, Any]:
    return model_registered(
        model_id=model_id,
        name=NAME,
        version=model_id[-1],
        base_model="b",
        model_type="lora",
        job_id="j",
        artifact_uri="a",
    )


def create(test_id: str) -> dict[str, Any]:
    arms = [
        {"arm_id": "control", "model_id": f"{NAME}:1", "weight": 0.5},
        {"arm_id": "treatment", "model_id": f"{NAME}:2", "weight": 0.5},
    ]
    return abtest_command(test_id=test_id, action="create", arms=arms, control_arm="control")


async def publish(settings: Settings, *events: tuple[str, dict[str, Any]]) -> None:
    specs = {
        MODEL_CHANGED: MODEL_EVENTS_TOPIC,
        MODEL_REGISTERED: MODEL_EVENTS_TOPIC,
        "ABTestCommand": ABTEST_COMMANDS_TOPIC,
        "ABTestVerdict": ABTEST_VERDICTS_TOPIC,
    }
    async with ProducerPublisher(settings) as publisher:
        for kind, record in events:
            await publisher.publish(specs[kind], record, schema=kind)


async def test_the_router_follows_tests_verdicts_and_production(settings: Settings) -> None:
    await publish(settings, (MODEL_CHANGED, deployed(f"{NAME}:1")))
    async with ExperimentRouter(settings) as router:
        assert router.route("u", model_name=NAME).model_id == f"{NAME}:1"  # read on start
        with pytest.raises(RouteError):
            router.route("u", test_id="t-1")

        await publish(
            settings, (MODEL_REGISTERED, registered(f"{NAME}:2")), ("ABTestCommand", create("t-1"))
        )
        await router.sync()
        routes = [router.route(u, model_name=NAME) for u in UNITS]
        assert {(r.test_id, r.arm_id, r.model_id) for r in routes} == {
            ("t-1", "control", f"{NAME}:1"),
            ("t-1", "treatment", f"{NAME}:2"),
        }
        async with ExperimentRouter(settings) as restarted:  # another router, from the topics
            assert [restarted.route(u, model_name=NAME) for u in UNITS] == routes

        verdict = abtest_verdict(test_id="t-1", decision="winner", winner_arm="treatment")
        await publish(settings, ("ABTestVerdict", verdict))
        await router.sync()
        after = router.route(UNITS[0], model_name=NAME)
        assert (after.model_id, after.test_id, after.arm_id) == (f"{NAME}:2", None, None)

        await publish(settings, (MODEL_CHANGED, deployed(f"{NAME}:3")))
        await router.sync()
        assert router.route(UNITS[0], model_name=NAME).model_id == f"{NAME}:3"


async def test_an_outcome_lands_with_its_test_and_arm(settings: Settings) -> None:
    await publish(settings, ("ABTestCommand", create("t-2")))
    async with ExperimentRouter(settings) as router:
        route = router.route("user-7", test_id="t-2")
        await router.record_outcome(
            route, request_id="req-1", success=True, metrics={"rating": 4.0}
        )
    [landed] = await read_events(settings, INFERENCE_OUTCOMES_TOPIC, at_least=1)
    record = landed.event.record
    assert (record["ab_test_id"], record["arm_id"], record["model_id"]) == (
        "t-2",
        route.arm_id,
        route.model_id,
    )
    assert (record["request_id"], record["success"], record["metrics"]) == (
        "req-1",
        True,
        {"rating": 4.0},
    )
    assert route.arm_id in ("control", "treatment")


def test_the_sync_router_routes_and_records_without_an_event_loop(settings: Settings) -> None:
    asyncio.run(publish(settings, ("ABTestCommand", create("t-3"))))
    with SyncExperimentRouter(settings) as router:
        routes = {u: router.route(u, test_id="t-3") for u in UNITS[:20]}
        router.record_outcome(routes["user-1"], request_id="req-s", success=False)
        asyncio.run(
            publish(settings, ("ABTestCommand", abtest_command(test_id="t-3", action="stop")))
        )
        router.sync()
        assert {router.route(u, test_id="t-3").model_id for u in UNITS[:20]} == {f"{NAME}:1"}
    assert {r.arm_id for r in routes.values()} == {"control", "treatment"}
    [landed] = asyncio.run(read_events(settings, INFERENCE_OUTCOMES_TOPIC, at_least=1))
    assert landed.event.record["arm_id"] == routes["user-1"].arm_id
