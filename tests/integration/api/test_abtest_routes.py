from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.api.helpers import ADMIN, add_model, read_topic
from tonebridge.settings import Settings
from tonebridge.stats.spec import spec_from_command
from tonebridge.storage.abtests import ABTestRepository
from tonebridge.storage.db import Database
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC

pytestmark = pytest.mark.integration


async def _arms(database: Database, unique: str) -> list[dict[str, object]]:
    control = await add_model(database, f"tone-{unique}", "1")
    treatment = await add_model(database, f"tone-{unique}", "2")
    return [
        {"arm_id": "control", "model_id": control.id, "weight": 1},
        {"arm_id": "treatment", "model_id": treatment.id, "weight": 1},
    ]


async def test_start_queues_the_test_and_records_it(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    arms = await _arms(database, unique)
    body = {
        "name": "formal v2 vs v1",
        "arms": arms,
        "metrics": [
            {"name": "success"},
            {
                "name": "latency_ms",
                "kind": "continuous",
                "higher_is_better": False,
                "guardrail": True,
            },
        ],
        "min_samples": 50,
    }
    response = await client.post("/ab-test", json=body, headers=ADMIN)
    assert response.status_code == 202, response.text
    test_id = response.json()["test_id"]
    [command] = await read_topic(api_settings, ABTEST_COMMANDS_TOPIC)
    record = command.record
    assert (record["test_id"], record["action"], record["control_arm"]) == (
        test_id,
        "create",
        "control",
    )
    assert [a["model_id"] for a in record["arms"]] == [a["model_id"] for a in arms]
    assert record["metrics"][1]["guardrail"] is True
    assert record["min_samples"] == 50
    results = (await client.get(f"/ab-test/{test_id}/results", headers=ADMIN)).json()
    assert (results["status"], results["winner_model_id"]) == ("active", None)
    assert [a["arm_id"] for a in results["arms"]] == ["control", "treatment"]


async def test_the_limits_that_end_a_test_go_into_its_command_and_row(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    limits = {"max_samples": 400, "max_duration_seconds": 7 * 86_400, "idle_timeout_seconds": 3600}
    body = {"name": "t", "arms": await _arms(database, unique), "min_samples": 40, **limits}
    response = await client.post("/ab-test", json=body, headers=ADMIN)
    assert response.status_code == 202, response.text
    [command] = await read_topic(api_settings, ABTEST_COMMANDS_TOPIC)
    assert {k: command.record[k] for k in limits} == limits
    stored = await ABTestRepository(database).get(response.json()["test_id"])
    assert {k: stored.config[k] for k in limits} == limits


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"max_samples": 10}, None, "max_samples (10) must be at least min_samples"),
        ({"max_duration_seconds": 0}, "max_duration_seconds", "greater than or equal to 1"),
        ({"idle_timeout_seconds": 400 * 86_400}, "idle_timeout_seconds", "less than or equal"),
    ],
)
async def test_bad_limits_are_422_naming_the_field(
    client: httpx.AsyncClient,
    api_settings: Settings,
    database: Database,
    unique: str,
    change: dict[str, object],
    field: str | None,
    words: str,
) -> None:
    body = {"name": "t", "arms": await _arms(database, unique), "min_samples": 50, **change}
    response = await client.post("/ab-test", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert words in response.text and (field is None or field in response.text)
    assert await read_topic(api_settings, ABTEST_COMMANDS_TOPIC) == []


async def test_stop_sends_a_stop_command_and_a_completed_test_is_409(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    body = {"name": "t", "arms": await _arms(database, unique)}
    test_id = (await client.post("/ab-test", json=body, headers=ADMIN)).json()["test_id"]
    response = await client.post(f"/ab-test/{test_id}/stop", json={"reason": "bug"}, headers=ADMIN)
    assert response.status_code == 202, response.text
    commands = await read_topic(api_settings, ABTEST_COMMANDS_TOPIC)
    assert [(c.record["action"], c.record["reason"]) for c in commands] == [
        ("create", None),
        ("stop", "bug"),
    ]
    await ABTestRepository(database).complete(test_id, winner=None, results=None)
    assert (await client.post(f"/ab-test/{test_id}/stop", headers=ADMIN)).status_code == 409


async def test_bad_tests_are_refused(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    arms = await _arms(database, unique)
    unknown = [arms[0], {"arm_id": "x", "model_id": "nope"}]
    response = await client.post("/ab-test", json={"name": "t", "arms": unknown}, headers=ADMIN)
    assert response.status_code == 404
    same_ids = [arms[0], {**arms[1], "arm_id": "control"}]
    response = await client.post("/ab-test", json={"name": "t", "arms": same_ids}, headers=ADMIN)
    assert response.status_code == 422
    assert "unique" in response.json()["message"]
    response = await client.post(
        "/ab-test", json={"name": "t", "arms": arms, "control_arm": "z"}, headers=ADMIN
    )
    assert "control_arm" in response.json()["message"]
    assert (await client.get("/ab-test/nope/results", headers=ADMIN)).status_code == 404
    assert await read_topic(api_settings, ABTEST_COMMANDS_TOPIC) == []


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        ({"name": "t\u0000"}, ["name"], "NUL"),
        ({"reason": "\u0000"}, ["reason"], "NUL"),
        ({"control_arm": "c" * 65}, ["control_arm"], "at most 64 characters"),
        ({"metrics": [{"name": "ok\u0000"}]}, ["metrics", 0, "name"], "NUL"),
        ({"alpha": float("nan")}, ["alpha"], "less than or equal to 0.5"),
        ({"arms": [{"arm_id": "a", "model_id": "m", "weight": float("inf")}] * 2}, ["weight"], ""),
    ],
)
async def test_hostile_tests_are_422_naming_the_field(
    client: httpx.AsyncClient,
    api_settings: Settings,
    database: Database,
    unique: str,
    change: dict[str, object],
    where: list[object],
    words: str,
) -> None:
    body = {"name": "t", "arms": await _arms(database, unique), **change}
    headers = {**ADMIN, "content-type": "application/json"}  # json.dumps writes NaN, Infinity
    response = await client.post("/ab-test", content=json.dumps(body), headers=headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"][-len(where) :] == where and words in detail["msg"]
    too_long = [{**arm, "arm_id": "a" * 65} for arm in await _arms(database, f"{unique}-2")]
    response = await client.post("/ab-test", json={"name": "t", "arms": too_long}, headers=ADMIN)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "arm_id"
    assert await read_topic(api_settings, ABTEST_COMMANDS_TOPIC) == []


async def test_tests_are_listed_newest_first_with_filters_and_pages(
    client: httpx.AsyncClient, database: Database, unique: str
) -> None:
    arms = await _arms(database, unique)
    repo = ABTestRepository(database)
    models = {"model_a_id": str(arms[0]["model_id"]), "model_b_id": str(arms[1]["model_id"])}
    ids = [
        (await repo.create(name=f"t-{unique}", test_id=f"t-{unique}-{n}", **models))[0].id
        for n in range(3)
    ]
    await repo.complete(ids[1], winner=None, results={"p": 0.5})

    async def listed(**params: object) -> list[str]:
        query = {"name": f"t-{unique}", **params}
        response = await client.get("/ab-test", params=query, headers=ADMIN)
        assert response.status_code == 200, response.text
        return [test["test_id"] for test in response.json()["items"]]

    assert await listed() == ids[::-1]
    assert await listed(limit=2) + await listed(limit=2, offset=2) == ids[::-1]
    assert await listed(status="completed") == [ids[1]]
    assert await listed(status="active") == [ids[2], ids[0]]
    assert await listed(name=f"other-{unique}") == []
    too_many = await client.get("/ab-test", params={"limit": 501}, headers=ADMIN)
    assert too_many.status_code == 422 and "query.limit" in too_many.json()["message"]


async def test_a_planned_size_and_a_covariate_travel_with_the_create_command(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    arms = await _arms(database, unique)
    body = {"name": "planned", "arms": arms, "expected_samples": 5000, "covariate": "prior"}
    response = await client.post("/ab-test", json=body, headers=ADMIN)
    assert response.status_code == 202, response.text
    [command] = await read_topic(api_settings, ABTEST_COMMANDS_TOPIC)
    assert command.record["expected_samples"] == 5000
    spec = spec_from_command(command.record)
    assert (spec.horizon, spec.covariate) == (5000, "prior")
    for bad in ({"expected_samples": 1}, {"covariate": "success"}):
        response = await client.post("/ab-test", json={**body, **bad}, headers=ADMIN)
        assert response.status_code == 422, bad
