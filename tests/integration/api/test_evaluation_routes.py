from __future__ import annotations

import httpx
import pytest

from tests.integration.api.helpers import ADMIN, add_model, read_topic
from tonebridge.settings import Settings
from tonebridge.storage.db import Database
from tonebridge.storage.training_jobs import TrainingJobRepository
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

pytestmark = pytest.mark.integration


async def test_evaluate_queues_an_evaluation_job(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    model = await add_model(database, f"tone-{unique}", base_model="local/base")
    response = await client.post(f"/evaluate/{model.id}", headers=ADMIN)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    [command] = await read_topic(api_settings, TRAINING_COMMANDS_TOPIC)
    record = command.record
    assert (record["kind"], record["model_id"], record["job_id"]) == ("evaluate", model.id, job_id)
    assert (record["base_model"], record["baseline_model_id"]) == ("local/base", None)
    job = await TrainingJobRepository(database).get(job_id)
    assert (job.kind, job.parent_model_id) == ("evaluate", model.id)


async def test_compare_names_both_models(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    candidate = await add_model(database, f"tone-{unique}", "2")
    baseline = await add_model(database, f"tone-{unique}", "1")
    body = {"model_id": candidate.id, "baseline_model_id": baseline.id}
    response = await client.post("/evaluate/compare", json=body, headers=ADMIN)
    assert response.status_code == 202, response.text
    [command] = await read_topic(api_settings, TRAINING_COMMANDS_TOPIC)
    assert command.record["model_id"] == candidate.id
    assert command.record["baseline_model_id"] == baseline.id


async def test_unknown_models_are_404_and_a_self_comparison_422(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    model = await add_model(database, f"tone-{unique}")
    assert (await client.post("/evaluate/nope", headers=ADMIN)).status_code == 404
    unknown_baseline = {"model_id": model.id, "baseline_model_id": "nope"}
    response = await client.post("/evaluate/compare", json=unknown_baseline, headers=ADMIN)
    assert response.status_code == 404
    same = {"model_id": model.id, "baseline_model_id": model.id}
    response = await client.post("/evaluate/compare", json=same, headers=ADMIN)
    assert response.status_code == 422
    assert await read_topic(api_settings, TRAINING_COMMANDS_TOPIC) == []
