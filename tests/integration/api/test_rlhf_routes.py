from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.api.helpers import ADMIN, read_topic
from tonebridge.settings import Settings
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

pytestmark = pytest.mark.integration
RLHF = {"base_model": "local/tiny-llama", "algorithm": "rloo", "hyperparameters": {"kl_beta": 0.1}}


async def test_rlhf_start_queues_an_rlhf_job(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    response = await client.post("/rlhf/start", json=RLHF, headers=ADMIN)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert response.json()["status_url"] == f"/rlhf/{job_id}/status"
    [command] = await read_topic(api_settings, TRAINING_COMMANDS_TOPIC)
    assert (command.record["kind"], command.record["job_id"]) == ("rlhf", job_id)
    assert json.loads(command.record["config_json"]) == {"algorithm": "rloo", "kl_beta": 0.1}
    status = await client.get(f"/rlhf/{job_id}/status", headers=ADMIN)
    assert (status.status_code, status.json()["kind"]) == (200, "rlhf")


async def test_rlhf_status_is_only_for_rlhf_jobs(client: httpx.AsyncClient) -> None:
    body = {"method": "sft", "base_model": "local/tiny-llama"}
    job_id = (await client.post("/train", json=body, headers=ADMIN)).json()["job_id"]
    response = await client.get(f"/rlhf/{job_id}/status", headers=ADMIN)
    assert response.status_code == 404
    assert "not RLHF" in response.json()["detail"]


async def test_rlhf_options_are_checked(client: httpx.AsyncClient) -> None:
    body = {**RLHF, "hyperparameters": {"num_generations": 1}}
    response = await client.post("/rlhf/start", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert "num_generations" in response.json()["message"]
    api_only = await client.post("/rlhf/start", json={**RLHF, "base_model": "gpt-4"}, headers=ADMIN)
    assert api_only.status_code == 422
    assert "API-only" in api_only.json()["message"]
