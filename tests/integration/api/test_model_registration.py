"""``POST /models``: base models and external adapters registered, announced once, checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.api.helpers import ADMIN, INGEST, read_topic, tiny_adapter
from tonebridge.settings import Settings
from tonebridge.storage.db import Database
from tonebridge.storage.models import ModelRepository
from tonebridge.topics.models import MODEL_EVENTS_TOPIC

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a tiny base model folder, a LoRA adapter folder saved on it by PEFT)."""
    return tiny_adapter(tmp_path_factory.mktemp("registration"))


async def register(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/models", json=body, headers=ADMIN)


async def test_a_base_model_is_registered_and_announced(
    client: httpx.AsyncClient, api_settings: Settings, tiny: tuple[Path, Path], unique: str
) -> None:
    response = await register(client, kind="base", name=f"tone-{unique}", source=str(tiny[0]))
    assert response.status_code == 201, response.text
    model = response.json()
    assert (model["version"], model["status"]) == ("base", "production")
    assert model["base_model"] == model["artifact_uri"] == str(tiny[0].resolve())
    [event] = await read_topic(api_settings, MODEL_EVENTS_TOPIC)
    assert event.name == "ModelRegistered"
    assert event.record["event_id"] == model["event_id"]
    assert (event.record["model_id"], event.record["job_id"]) == (model["model_id"], "")
    hub = await register(client, kind="base", name=f"hub-{unique}", source="sshleifer/tiny-gpt2")
    assert hub.status_code == 201, hub.text
    assert hub.json()["base_model"] == "sshleifer/tiny-gpt2"


async def test_an_external_adapter_is_registered_as_a_draft(
    client: httpx.AsyncClient,
    api_settings: Settings,
    database: Database,
    tiny: tuple[Path, Path],
    unique: str,
) -> None:
    response = await register(client, kind="adapter", name=f"tone-{unique}", source=str(tiny[1]))
    assert response.status_code == 201, response.text
    model = response.json()
    assert model["status"] == "draft" and model["version"].startswith("ext-")
    assert model["base_model"] == str(tiny[0])  # from the adapter's config
    stored = await ModelRepository(database).get(model["model_id"])
    assert stored.adapter == str(tiny[1].resolve())
    [event] = await read_topic(api_settings, MODEL_EVENTS_TOPIC)
    assert event.record["artifact_uri"] == stored.adapter


async def test_registering_again_answers_the_same_and_resends_the_same_event(
    client: httpx.AsyncClient, api_settings: Settings, tiny: tuple[Path, Path], unique: str
) -> None:
    body = {"kind": "adapter", "name": f"tone-{unique}", "source": str(tiny[1])}
    first, again = [await register(client, **body) for _ in range(2)]
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    events = await read_topic(api_settings, MODEL_EVENTS_TOPIC)
    assert len(events) == 2
    assert {e.record["event_id"] for e in events} == {first.json()["event_id"]}


async def test_a_conflicting_registration_is_409(
    client: httpx.AsyncClient, tiny: tuple[Path, Path], unique: str, tmp_path: Path
) -> None:
    other = shutil.copytree(tiny[1], tmp_path / "other")
    config = json.loads((other / "adapter_config.json").read_text())
    (other / "adapter_config.json").write_text(json.dumps(config | {"r": 4}))
    name = f"tone-{unique}"
    first = await register(client, kind="adapter", name=name, source=str(tiny[1]), version="v1")
    assert first.status_code == 201, first.text
    clash = await register(client, kind="adapter", name=name, source=str(other), version="v1")
    assert clash.status_code == 409, clash.text
    assert "path" in clash.json()["detail"]
    same_id = await register(
        client, kind="base", name=name, source=str(tiny[0]), model_id=first.json()["model_id"]
    )
    assert same_id.status_code == 409, same_id.text


@pytest.mark.parametrize(
    ("fields", "where", "words"),
    [
        ({"model_id": "m 1"}, "model_id", "pattern"),
        ({"model_id": "m" * 65}, "model_id", "at most 64"),
        ({"name": "tone\u0000"}, "name", "pattern"),
        ({"version": "7"}, "version", "numeric"),
        ({"source": "./not-there"}, "source", "neither a local folder nor"),
        ({"source": "no//such id"}, "source", "neither a local folder nor"),
        ({"base_model": "other"}, "base_model", "for adapters"),
        ({"kind": "merged"}, "kind", "'base' or 'adapter'"),
    ],
)
async def test_bad_registrations_are_422_naming_the_field(
    client: httpx.AsyncClient,
    api_settings: Settings,
    fields: dict[str, Any],
    where: str,
    words: str,
) -> None:
    body = {"kind": "base", "name": "tone", "source": "org/model"} | fields
    response = await register(client, **body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"][-1] == where and words in detail["msg"], detail
    assert await read_topic(api_settings, MODEL_EVENTS_TOPIC) == []


async def test_an_adapter_folder_must_hold_an_adapter(
    client: httpx.AsyncClient, tiny: tuple[Path, Path]
) -> None:
    response = await register(client, kind="adapter", name="tone", source=str(tiny[0]))
    assert response.status_code == 422
    assert "holds no PEFT adapter" in response.json()["detail"][0]["msg"]


async def test_registering_needs_the_admin_scope(client: httpx.AsyncClient) -> None:
    body = {"kind": "base", "name": "tone", "source": "org/model"}
    assert (await client.post("/models", json=body)).status_code == 401
    assert (await client.post("/models", json=body, headers=INGEST)).status_code == 403
