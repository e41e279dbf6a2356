from __future__ import annotations

import httpx
import pytest

from tests.integration.api.helpers import ADMIN, add_model, production_history, read_topic
from tonebridge.settings import Settings
from tonebridge.storage.db import Database
from tonebridge.storage.models import ModelRepository
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC

pytestmark = pytest.mark.integration


async def test_models_are_listed_and_read(
    client: httpx.AsyncClient, database: Database, unique: str
) -> None:
    name = f"tone-{unique}"
    first = await add_model(database, name, "1", metrics={"chrf": 41.5})
    second = await add_model(database, name, "2")
    page = (await client.get("/models", params={"name": name}, headers=ADMIN)).json()
    assert [m["model_id"] for m in page["items"]] == [second.id, first.id]
    one = (await client.get(f"/models/{first.id}", headers=ADMIN)).json()
    assert (one["name"], one["version"], one["status"]) == (name, "1", "draft")
    assert one["metrics"] == {"chrf": 41.5}
    assert one["artifact_uri"] == first.path
    drafts = await client.get(
        "/models", params={"name": name, "status": "production"}, headers=ADMIN
    )
    assert drafts.json()["items"] == []
    assert (await client.get("/models/nope", headers=ADMIN)).status_code == 404


async def test_deploy_sends_a_deploy_command_to_the_registry(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    model = await add_model(database, f"tone-{unique}")
    response = await client.post(
        f"/models/{model.id}/deploy", json={"reason": "won the A/B test"}, headers=ADMIN
    )
    assert response.status_code == 202, response.text
    assert response.json()["action"] == "deploy"
    [command] = await read_topic(api_settings, MODEL_COMMANDS_TOPIC)
    assert command.name == "ModelCommand"
    assert (command.record["action"], command.record["model_id"]) == ("deploy", model.id)
    assert command.record["command_id"] == response.json()["command_id"]
    assert command.record["reason"] == "won the A/B test"


async def test_undeployable_models_are_409(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    previous, production = await production_history(database, f"tone-{unique}")
    failed = await add_model(database, f"tone-{unique}", "3", metrics={"vs_baseline_verdict": -1.0})
    for model, why in (
        (production, "already in production"),
        (previous, "archived"),
        (failed, "failed its evaluation"),
    ):
        response = await client.post(f"/models/{model.id}/deploy", headers=ADMIN)
        assert response.status_code == 409
        assert why in response.json()["detail"]
    assert (await client.post("/models/nope/deploy", headers=ADMIN)).status_code == 404
    assert await read_topic(api_settings, MODEL_COMMANDS_TOPIC) == []


async def test_rollback_of_the_production_version(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    _, production = await production_history(database, f"tone-{unique}")
    response = await client.post(f"/models/{production.id}/rollback", headers=ADMIN)
    assert response.status_code == 202, response.text
    [command] = await read_topic(api_settings, MODEL_COMMANDS_TOPIC)
    assert (command.record["action"], command.record["model_id"]) == ("rollback", production.id)


async def test_rollback_needs_production_and_a_predecessor(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    draft = await add_model(database, f"tone-{unique}")
    only = await add_model(database, f"solo-{unique}")
    await ModelRepository(database).promote(only.id)
    for model, why in ((draft, "not production"), (only, "no earlier production version")):
        response = await client.post(f"/models/{model.id}/rollback", headers=ADMIN)
        assert response.status_code == 409
        assert why in response.json()["detail"]
    assert await read_topic(api_settings, MODEL_COMMANDS_TOPIC) == []


async def test_a_tie_or_a_win_against_the_baseline_may_deploy(
    client: httpx.AsyncClient, database: Database, unique: str
) -> None:
    for version, verdict in (("1", 0.0), ("2", 1.0)):
        model = await add_model(
            database, f"tone-{unique}", version, metrics={"vs_baseline_verdict": verdict}
        )
        assert (await client.post(f"/models/{model.id}/deploy", headers=ADMIN)).status_code == 202
