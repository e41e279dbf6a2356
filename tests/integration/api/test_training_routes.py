from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr

from tests.integration.api.helpers import ADMIN, ADMIN_KEY, add_model, read_topic
from tonebridge.api.auth import Authenticator
from tonebridge.api.commands import command_id_for
from tonebridge.settings import Settings
from tonebridge.storage.db import Database
from tonebridge.storage.training_jobs import TrainingJobRepository
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC, TRAINING_CONTROL_TOPIC

pytestmark = pytest.mark.integration
TRAIN = {"method": "sft", "base_model": "local/tiny-llama", "hyperparameters": {"epochs": 1}}


async def test_train_queues_the_command_and_records_a_pending_job(
    client: httpx.AsyncClient, api_settings: Settings, database: Database
) -> None:
    response = await client.post("/train", json=TRAIN, headers=ADMIN)
    assert response.status_code == 202, response.text
    accepted = response.json()
    job_id = accepted["job_id"]
    assert accepted == {
        "job_id": job_id,
        "command_id": job_id,
        "status": "pending",
        "status_url": f"/train/{job_id}/status",
    }
    [command] = await read_topic(api_settings, TRAINING_COMMANDS_TOPIC)
    assert command.name == "TrainingCommand"
    assert command.record["kind"] == "sft"
    assert (command.record["command_id"], command.record["job_id"]) == (job_id, job_id)
    assert command.record["base_model"] == "local/tiny-llama"
    assert json.loads(command.record["config_json"]) == {"epochs": 1}
    assert command.record["requested_by"].startswith("api:")
    job = await TrainingJobRepository(database).get(job_id)
    assert (job.kind, job.status, job.command_id) == ("sft", "pending", job_id)


async def test_status_reports_the_job_and_404s_unknown_ones(
    client: httpx.AsyncClient, database: Database
) -> None:
    job_id = (await client.post("/train", json=TRAIN, headers=ADMIN)).json()["job_id"]
    await TrainingJobRepository(database).mark_running(job_id, "trainer-1")
    await TrainingJobRepository(database).update_progress(job_id, 0.25, {"loss": 1.5})
    status = (await client.get(f"/train/{job_id}/status", headers=ADMIN)).json()
    assert (status["status"], status["progress"], status["metrics"]) == (
        "running",
        0.25,
        {"loss": 1.5},
    )
    missing = await client.get("/train/no-such-job/status", headers=ADMIN)
    assert missing.status_code == 404
    assert "no-such-job" in missing.json()["detail"]


async def test_a_model_id_lends_its_base_model(
    client: httpx.AsyncClient, api_settings: Settings, database: Database, unique: str
) -> None:
    model = await add_model(database, f"tone-{unique}", base_model="local/other-base")
    body = {"method": "dpo", "model_id": model.id}
    assert (await client.post("/train", json=body, headers=ADMIN)).status_code == 202
    [command] = await read_topic(api_settings, TRAINING_COMMANDS_TOPIC)
    assert (command.record["kind"], command.record["model_id"]) == ("dpo", model.id)
    assert command.record["base_model"] == "local/other-base"


async def test_orpo_is_a_training_method_with_its_own_options(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    bad = {**TRAIN, "method": "orpo", "hyperparameters": {"beta": 0}}
    refused = await client.post("/train", json=bad, headers=ADMIN)
    assert refused.status_code == 422
    assert "beta" in refused.json()["detail"][0]["msg"]
    body = {**TRAIN, "method": "orpo", "hyperparameters": {"beta": 0.2}}
    assert (await client.post("/train", json=body, headers=ADMIN)).status_code == 202
    [command] = await read_topic(api_settings, TRAINING_COMMANDS_TOPIC)
    assert command.record["kind"] == "orpo"
    assert json.loads(command.record["config_json"]) == {"beta": 0.2}


@pytest.mark.parametrize("base_model", ["gpt-4o", "openai/gpt-4-turbo", "claude-3-5-sonnet"])
async def test_api_only_base_models_are_refused_naming_the_field(
    client: httpx.AsyncClient, api_settings: Settings, base_model: str
) -> None:
    response = await client.post("/train", json={**TRAIN, "base_model": base_model}, headers=ADMIN)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "base_model"]
    assert "API-only" in error["msg"]
    assert await read_topic(api_settings, TRAINING_COMMANDS_TOPIC) == []


@pytest.mark.parametrize(("options", "named"), [({"lora_r": 0}, "lora_r"), ({"epoch": 2}, "epoch")])
async def test_bad_training_options_are_refused_naming_them(
    client: httpx.AsyncClient, options: dict[str, int], named: str
) -> None:
    response = await client.post(
        "/train", json={**TRAIN, "hyperparameters": options}, headers=ADMIN
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "hyperparameters"]
    assert named in error["msg"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"method": "sft"}, "base_model"),
        ({**TRAIN, "method": "ppo"}, "method"),
        ({**TRAIN, "method": "rlhf"}, "method"),
        ({**TRAIN, "learning_rate": 0.1}, "learning_rate"),
    ],
)
async def test_malformed_requests_name_the_problem(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/train", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert field in response.json()["message"]


async def test_unknown_model_or_dataset_is_404(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    for body in ({"model_id": "nope-model"}, {**TRAIN, "dataset_id": "nope-dataset"}):
        response = await client.post("/train", json=body, headers=ADMIN)
        assert response.status_code == 404
        assert "nope-" in response.json()["detail"]
    assert await read_topic(api_settings, TRAINING_COMMANDS_TOPIC) == []


async def test_stop_asks_a_running_job_to_stop_on_the_control_topic(
    client: httpx.AsyncClient, api_settings: Settings, database: Database
) -> None:
    job_id = (await client.post("/train", json=TRAIN, headers=ADMIN)).json()["job_id"]
    await TrainingJobRepository(database).mark_running(job_id, "trainer-1")
    response = await client.post(f"/train/{job_id}/stop", json={"reason": "enough"}, headers=ADMIN)
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["stop_requested"]) == ("running", True)
    [stop] = await read_topic(api_settings, TRAINING_CONTROL_TOPIC)
    assert (stop.record["kind"], stop.record["job_id"], stop.record["reason"]) == (
        "stop",
        job_id,
        "enough",
    )


async def test_stopping_a_pending_job_stops_it_at_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    job_id = (await client.post("/train", json=TRAIN, headers=ADMIN)).json()["job_id"]
    response = await client.post(f"/train/{job_id}/stop", headers=ADMIN)
    assert response.status_code == 202
    assert (await TrainingJobRepository(database).get(job_id)).status == "stopped"


async def test_stopping_a_finished_job_is_409(
    client: httpx.AsyncClient, api_settings: Settings, database: Database
) -> None:
    job_id = (await client.post("/train", json=TRAIN, headers=ADMIN)).json()["job_id"]
    jobs = TrainingJobRepository(database)
    await jobs.mark_running(job_id, "trainer-1")
    await jobs.finish(job_id, "completed")
    response = await client.post(f"/train/{job_id}/stop", headers=ADMIN)
    assert response.status_code == 409
    assert "completed" in response.json()["detail"]
    assert await read_topic(api_settings, TRAINING_CONTROL_TOPIC) == []
    assert (await client.post("/train/nope/stop", headers=ADMIN)).status_code == 404


async def test_a_retried_request_names_the_same_job_and_queues_one_command(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    headers = {**ADMIN, "Idempotency-Key": "train-once"}
    first = await client.post("/train", json=TRAIN, headers=headers)
    again = await client.post("/train", json=TRAIN, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await read_topic(api_settings, TRAINING_COMMANDS_TOPIC)) == 1
    other = await client.post("/train", json={**TRAIN, "method": "kto"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_a_job_the_trainer_already_made_for_the_command_is_answered(
    client: httpx.AsyncClient, api_settings: Settings, database: Database
) -> None:
    admin = Authenticator([SecretStr(ADMIN_KEY)]).identify(ADMIN_KEY)
    assert admin is not None
    command_id = command_id_for(admin, "made-by-trainer", "/train")
    job, _ = await TrainingJobRepository(database).create_from_command(
        command_id=command_id, kind="sft", base_model="local/tiny-llama"
    )
    headers = {**ADMIN, "Idempotency-Key": "made-by-trainer"}
    response = await client.post("/train", json=TRAIN, headers=headers)
    assert response.status_code == 202
    assert response.json()["job_id"] == job.id != command_id
    assert response.json()["status_url"] == f"/train/{job.id}/status"
    assert await read_topic(api_settings, TRAINING_COMMANDS_TOPIC) == []  # not sent twice


JOB = {"base_model": "local/tiny-llama"}  # a valid body of both /train and /rlhf/start
BAD_JOB_REQUESTS = [
    ({"model_type": "m" * 100}, "model_type", "more than 64"),
    ({"base_model": "local/tiny\x00"}, "base_model", "NUL"),
    ({"model_type": "tone\x00"}, "model_type", "NUL"),
    ({"reason": "because\x00"}, "reason", "NUL"),
    ({"hyperparameters": {"lora_target_modules": ["q_proj\x00"]}}, "hyperparameters", "NUL"),
    ({"model_id": "../../etc/passwd"}, "model_id", "not an id"),
    ({"dataset_id": "d" * 65}, "dataset_id", "more than 64"),
]


@pytest.mark.parametrize("path", ["/train", "/rlhf/start"])
@pytest.mark.parametrize(("change", "field", "why"), BAD_JOB_REQUESTS)
async def test_values_the_job_row_cannot_hold_are_422_naming_the_field(
    client: httpx.AsyncClient,
    api_settings: Settings,
    path: str,
    change: dict[str, object],
    field: str,
    why: str,
) -> None:
    # The issue: a 100-character model_type answered 202, then crashed every trainer.
    response = await client.post(path, json={**JOB, **change}, headers=ADMIN)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][:2] == ["body", field]
    assert why in error["msg"]
    assert await read_topic(api_settings, TRAINING_COMMANDS_TOPIC) == []


@pytest.mark.parametrize("path", ["/train", "/rlhf/start"])
@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN"])
async def test_non_finite_hyperparameters_are_422(
    client: httpx.AsyncClient, api_settings: Settings, path: str, number: str
) -> None:
    body = '{"base_model": "local/tiny-llama", "hyperparameters": {"learning_rate": %s}}'
    headers = {**ADMIN, "content-type": "application/json"}
    response = await client.post(path, content=body % number, headers=headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][:2] == ["body", "hyperparameters"]
    assert "learning_rate" in error["msg"] and "not a finite number" in error["msg"]
    assert await read_topic(api_settings, TRAINING_COMMANDS_TOPIC) == []


async def _jobs(database: Database, model_type: str, kinds: list[str]) -> list[str]:
    """Jobs of ``model_type``, oldest first; their ids."""
    repo = TrainingJobRepository(database)
    made = [
        await repo.create_from_command(
            command_id=f"{model_type}-{n}", kind=kind, base_model="b", model_type=model_type
        )
        for n, kind in enumerate(kinds)
    ]
    return [job.id for job, _ in made]


async def test_jobs_are_listed_newest_first_in_pages(
    client: httpx.AsyncClient, database: Database, unique: str
) -> None:
    ids = await _jobs(database, f"type-{unique}", ["sft", "dpo", "sft"])
    pages = [
        (
            await client.get(
                "/train",
                params={"model_type": f"type-{unique}", "limit": 2, "offset": offset},
                headers=ADMIN,
            )
        ).json()
        for offset in (0, 2)
    ]
    assert [job["job_id"] for page in pages for job in page["items"]] == ids[::-1]
    assert [len(page["items"]) for page in pages] == [2, 1]
    assert pages[0]["items"][0]["status"] == "pending"


async def test_job_filters_narrow_the_list(
    client: httpx.AsyncClient, database: Database, unique: str
) -> None:
    model_type = f"type-{unique}"
    first, second, third = await _jobs(database, model_type, ["sft", "dpo", "sft"])
    await TrainingJobRepository(database).mark_running(second, "trainer-1")

    async def listed(**params: str) -> list[str]:
        query = {"model_type": model_type, **params}
        response = await client.get("/train", params=query, headers=ADMIN)
        assert response.status_code == 200, response.text
        return [job["job_id"] for job in response.json()["items"]]

    assert await listed(kind="sft") == [third, first]
    assert await listed(status="running") == [second]
    assert await listed(status="pending", kind="dpo") == []
    model = await add_model(database, f"tone-{unique}")
    improved, _ = await TrainingJobRepository(database).create_from_command(
        command_id=f"improve-{unique}", kind="sft", base_model="b", parent_model_id=model.id
    )
    assert await listed(model_type="tone_adjustment", model_id=model.id) == [improved.id]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"status": "sleeping"}, "status"),
        ({"kind": "stop"}, "kind"),
    ],
)
async def test_bad_list_queries_are_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, object], field: str
) -> None:
    response = await client.get("/train", params=params, headers=ADMIN)
    assert response.status_code == 422
    assert f"query.{field}" in response.json()["message"]


async def test_continual_training_options_travel_in_the_command(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    body = {**TRAIN, "start_from": "base", "replay_fraction": 0.5}
    assert (await client.post("/train", json=body, headers=ADMIN)).status_code == 202
    [command] = await read_topic(api_settings, TRAINING_COMMANDS_TOPIC)
    config = json.loads(command.record["config_json"])
    assert config == {"epochs": 1, "start_from": "base", "replay_fraction": 0.5}


@pytest.mark.parametrize(("field", "value"), [("start_from", "scratch"), ("replay_fraction", 1.5)])
async def test_bad_continual_training_options_are_a_422(
    client: httpx.AsyncClient, field: str, value: object
) -> None:
    response = await client.post("/train", json={**TRAIN, field: value}, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]
