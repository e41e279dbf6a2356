from __future__ import annotations

import uuid

import httpx
import pytest

from tests.integration.api.helpers import ADMIN, INGEST, add_model, known_models, read_topic
from tonebridge.settings import Settings
from tonebridge.storage.db import Database
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
async def models(database: Database) -> None:
    """The models these events name are registered."""
    await known_models(database, "tone-formal-1", "m-1", "m")


def feedback(n: int = 0, **fields: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": str(uuid.uuid4()),
        "event_time": "2025-03-14T15:09:26.535Z",
        "user_id": f"user-{n}",
        "model_id": "tone-formal-1",
        "input_text": "send it asap",
        "output_text": "Send it now.",
        "transformation_type": "formal",
        "rating": 2,
    }
    return event | fields


async def test_one_event_lands_on_the_feedback_topic(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    event = feedback(corrected_text="Could you send it soon, please?", metadata={"app": "ios"})
    response = await client.post("/feedback", json=event, headers=INGEST)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "event_ids": [event["event_id"]]}
    [landed] = await read_topic(api_settings, FEEDBACK_TOPIC)
    record = landed.record
    assert landed.name == "FeedbackEvent"
    assert record["event_id"] == event["event_id"]
    assert record["event_time"].isoformat() == "2025-03-14T15:09:26.535000+00:00"
    assert (record["rating"], record["feedback_type"]) == (2, "both")
    assert record["corrected_text"] == "Could you send it soon, please?"
    assert record["metadata"] == {"app": "ios"}


async def test_a_batch_lands_whole(client: httpx.AsyncClient, api_settings: Settings) -> None:
    events = [feedback(n, rating=1 + n) for n in range(5)]
    response = await client.post("/feedback", json={"events": events}, headers=INGEST)
    assert response.status_code == 202
    assert response.json()["accepted"] == 5
    landed = await read_topic(api_settings, FEEDBACK_TOPIC)
    assert sorted(e.record["rating"] for e in landed) == [1, 2, 3, 4, 5]
    assert {e.record["event_id"] for e in landed} == {e["event_id"] for e in events}


async def test_a_rating_out_of_range_is_422_naming_the_field(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    response = await client.post("/feedback", json=feedback(rating=6), headers=INGEST)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"][0]["loc"][-1] == "rating"
    assert "rating" in body["message"] and "less than or equal to 5" in body["message"]
    batch = {"events": [feedback(0), feedback(1, rating=0)]}
    response = await client.post("/feedback", json=batch, headers=INGEST)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-3:] == ["events", 1, "rating"]
    assert await read_topic(api_settings, FEEDBACK_TOPIC) == []


async def test_feedback_needs_a_rating_or_a_correction(client: httpx.AsyncClient) -> None:
    response = await client.post("/feedback", json=feedback(rating=None), headers=INGEST)
    assert response.status_code == 422
    assert "rating, a corrected_text, or both" in response.json()["message"]


async def test_outcomes_land_on_their_topic(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    outcome = {
        "request_id": "req-1",
        "model_id": "tone-formal-1",
        "ab_test_id": "ab-1",
        "arm_id": "treatment",
        "success": True,
        "metrics": {"latency_ms": 81.5},
    }
    response = await client.post("/outcomes", json=outcome, headers=INGEST)
    assert response.status_code == 202, response.text
    [landed] = await read_topic(api_settings, INFERENCE_OUTCOMES_TOPIC)
    assert landed.name == "InferenceOutcome"
    assert (landed.record["success"], landed.record["metrics"]) == (True, {"latency_ms": 81.5})


async def test_scopes_and_keys(client: httpx.AsyncClient) -> None:
    assert (await client.post("/feedback", json=feedback(), headers=ADMIN)).status_code == 202
    missing = await client.post("/feedback", json=feedback())
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = {"Authorization": "Bearer not-a-key"}
    assert (await client.post("/feedback", json=feedback(), headers=wrong)).status_code == 401
    forbidden = await client.get("/models", headers=INGEST)
    assert forbidden.status_code == 403
    assert "admin" in forbidden.json()["detail"]
    for path in ("/train", "/ab-test", "/rlhf/start"):
        assert (await client.post(path, json={}, headers=INGEST)).status_code == 403


def outcome_body(**fields: object) -> dict[str, object]:
    return {"request_id": "req-1", "model_id": "m-1", "ab_test_id": "ab-1", "arm_id": "a",
            "success": True, "metrics": {"latency_ms": 12.5}, **fields}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "where", "words"),
    [
        ({"ab_test_id": "t" * 65}, ["ab_test_id"], "at most 64 characters"),
        ({"model_id": "m 1"}, ["model_id"], "pattern"),
        ({"request_id": "req\u0000"}, ["request_id"], "NUL"),
        ({"metrics": {"lat\u0000": 1.0}}, ["metrics", "lat\u0000", "[key]"], "NUL"),
        ({"transformation_type": "t" * 65}, ["transformation_type"], "at most 64 characters"),
        ({"event_time": "2999-01-01T00:00:00Z"}, ["event_time"], "in the future"),
    ],
)
async def test_a_bad_outcome_is_422_naming_the_field(
    client: httpx.AsyncClient,
    api_settings: Settings,
    fields: dict[str, object],
    where: list[object],
    words: str,
) -> None:
    response = await client.post("/outcomes", json=outcome_body(**fields), headers=INGEST)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"][-len(where) :] == where and words in detail["msg"]
    assert await read_topic(api_settings, INFERENCE_OUTCOMES_TOPIC) == []


async def test_non_finite_metrics_are_422(client: httpx.AsyncClient) -> None:
    body = '{"request_id": "r", "model_id": "m", "metrics": {"latency_ms": NaN}}'
    headers = {**INGEST, "content-type": "application/json"}
    response = await client.post("/outcomes", content=body, headers=headers)
    assert response.status_code == 422 and "metrics" in response.text


async def test_feedback_for_an_unknown_model_is_422_naming_it(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    response = await client.post("/feedback", json=feedback(model_id="ghost-1"), headers=INGEST)
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "model_id"]
    assert "unknown model 'ghost-1'" in detail["msg"]
    batch = {"events": [feedback(0), feedback(1, model_id="ghost-2"), feedback(2)]}
    response = await client.post("/feedback", json=batch, headers=INGEST)
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "events", 1, "model_id"]
    assert "unknown model 'ghost-2'" in detail["msg"]
    assert await read_topic(api_settings, FEEDBACK_TOPIC) == []


async def test_outcomes_for_an_unknown_model_are_422_naming_it(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    response = await client.post("/outcomes", json=outcome_body(model_id="ghost"), headers=INGEST)
    assert response.status_code == 422, response.text
    assert "unknown model 'ghost'" in response.json()["message"]
    assert await read_topic(api_settings, INFERENCE_OUTCOMES_TOPIC) == []


async def test_a_model_registered_after_a_refusal_is_accepted(
    client: httpx.AsyncClient, database: Database, unique: str
) -> None:
    model_id = f"late-{unique}"
    event = feedback(model_id=model_id)
    assert (await client.post("/feedback", json=event, headers=INGEST)).status_code == 422
    await add_model(database, f"late-{unique}", model_id=model_id)
    assert (await client.post("/feedback", json=event, headers=INGEST)).status_code == 202


async def test_the_ingest_routes_document_their_key_and_answer_json(
    client: httpx.AsyncClient,
) -> None:
    """The ingest routes read the bearer token and write the 202 body themselves (for speed):
    the spec still names the scheme and the body, and the body is the documented JSON."""
    spec = (await client.get("/openapi.json")).json()
    for path in ("/feedback", "/outcomes"):
        operation = spec["paths"][path]["post"]
        assert operation["security"] == [{"HTTPBearer": []}]
        schema = operation["responses"]["202"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/IngestAccepted"}
    event = feedback()
    answer = await client.post("/feedback", json=event, headers=INGEST)
    assert answer.status_code == 202
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"accepted": 1, "event_ids": [event["event_id"]]}
