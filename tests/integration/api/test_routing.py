"""Idempotency-Key through the app, on both guard-store backends."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.api.helpers import (
    ADMIN,
    INGEST,
    api_settings_for,
    known_models,
    read_topic,
    running_client,
)
from tonebridge.api.guard_store import GuardStore
from tonebridge.broker import EmbeddedBroker
from tonebridge.storage.db import Database
from tonebridge.topics.admin import create_topics
from tonebridge.topics.feedback import FEEDBACK_TOPIC

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
async def models(database: Database) -> None:
    await known_models(database, "tone-formal-1")


def rating(value: int) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "user_id": "u1",
        "model_id": "tone-formal-1",
        "input_text": "send it asap",
        "output_text": "Send it now.",
        "transformation_type": "formal",
        "rating": value,
    }


async def test_same_key_same_body_replays_other_body_422(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database, guard_store: GuardStore
) -> None:
    settings = api_settings_for(broker, unique, tmp_path)
    await create_topics(settings)
    event = rating(4)
    async with running_client(settings, database, guard_store=guard_store) as client:
        headers = {**INGEST, "Idempotency-Key": "k-1"}
        first = await client.post("/feedback", json=event, headers=headers)
        again = await client.post("/feedback", json=event, headers=headers)
        other = await client.post("/feedback", json=rating(5), headers=headers)
        other_caller = await client.post(
            "/feedback", json=rating(5), headers={**ADMIN, "Idempotency-Key": "k-1"}
        )
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.content == first.content
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert other_caller.status_code == 202  # keys are scoped per API key
    assert len(await read_topic(settings, FEEDBACK_TOPIC)) == 2


async def test_refused_requests_are_not_stored(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database, guard_store: GuardStore
) -> None:
    settings = api_settings_for(broker, unique, tmp_path)
    await create_topics(settings)
    headers = {**INGEST, "Idempotency-Key": "k-2"}
    async with running_client(settings, database, guard_store=guard_store) as client:
        invalid = await client.post("/feedback", json=rating(9), headers=headers)
        fixed = await client.post("/feedback", json=rating(9) | {"rating": 3}, headers=headers)
        unauthenticated = await client.post(
            "/feedback", json=rating(3), headers={"Idempotency-Key": "k-3"}
        )
    assert invalid.status_code == 422
    assert fixed.status_code == 202  # a refused request leaves the key free for the fixed one
    assert unauthenticated.status_code == 401
    assert len(await read_topic(settings, FEEDBACK_TOPIC)) == 1


async def test_a_malformed_key_is_422(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database
) -> None:
    settings = api_settings_for(broker, unique, tmp_path)
    async with running_client(settings, database) as client:
        response = await client.post(
            "/feedback", json=rating(3), headers={**INGEST, "Idempotency-Key": "has space"}
        )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["message"]


async def test_a_malformed_key_is_refused_as_before_with_the_other_errors(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database
) -> None:
    """A malformed key is served by the route with the header check (well-formed and absent
    keys by its twin without it): after authentication, and beside the body's errors."""
    settings = api_settings_for(broker, unique, tmp_path)
    malformed = {"Idempotency-Key": "has space"}
    async with running_client(settings, database) as client:
        anonymous = await client.post("/feedback", json={}, headers=malformed)
        both = await client.post("/feedback", json={}, headers={**INGEST, **malformed})
        plain = await client.post("/feedback", json={}, headers=INGEST)
    assert anonymous.status_code == 401
    assert both.status_code == plain.status_code == 422
    where = [tuple(error["loc"]) for error in both.json()["detail"]]
    assert ("header", "Idempotency-Key") in where
    assert any(loc[0] == "body" for loc in where)
    assert all(loc[0] == "body" for loc in (tuple(e["loc"]) for e in plain.json()["detail"]))
