"""GET /feedback/stats reads what the feedback agent writes to its table's changelog.

The changelog records are made here with the agent's own fold (``model_feedback.fold``) and
encoding, so the API's read path is exercised without running a faust worker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.api.helpers import ADMIN, INGEST, running_client
from tonebridge.agents import model_feedback
from tonebridge.agents.app import FEEDBACK_TABLE, changelog_topic
from tonebridge.settings import Settings
from tonebridge.stats.feedback import sample_from_record
from tonebridge.storage.db import Database
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.feedback import feedback_event

pytestmark = pytest.mark.integration
AT = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)


def event(rating: int | None, tone: str, corrected: str | None = None) -> dict[str, Any]:
    return feedback_event(
        user_id="u1",
        model_id="m",
        input_text="send it asap",
        output_text="Send it now.",
        transformation_type=tone,
        rating=rating,
        corrected_text=corrected,
        event_time=AT,
    )


async def write_table(settings: Settings, states: dict[str, model_feedback.ModelFeedback]) -> None:
    producer = AIOKafkaProducer(**client_kwargs(settings), enable_idempotence=False)
    await producer.start()
    try:
        topic = changelog_topic(settings, FEEDBACK_TABLE)
        for model_id, state in states.items():
            await producer.send_and_wait(topic, state.to_json(), key=model_id.encode())
    finally:
        await producer.stop()


def folded(*records: dict[str, Any]) -> model_feedback.ModelFeedback:
    samples = [(r["transformation_type"], sample_from_record(r)) for r in records]
    return model_feedback.fold(model_feedback.ModelFeedback(), samples, "feedback/0", 0)


async def test_stats_per_model_and_transformation_type(
    api_settings: Settings, database: Database
) -> None:
    state = folded(event(2, "formal"), event(4, "formal"), event(5, "casual", "Send it, thanks!"))
    await write_table(api_settings, {"tone-a": state, "tone-b": folded(event(1, "formal"))})
    async with running_client(api_settings, database) as client:
        one = await client.get(
            "/feedback/stats", params={"model_id": "tone-a", "fresh": True}, headers=ADMIN
        )
        every = await client.get("/feedback/stats", params={"fresh": True}, headers=ADMIN)
        unknown = await client.get("/feedback/stats", params={"model_id": "nope"}, headers=ADMIN)
        ingest_only = await client.get("/feedback/stats", headers=INGEST)
    assert one.status_code == 200, one.text
    stats = one.json()["models"]["tone-a"]
    assert stats["overall"]["all_time"]["count"] == 3
    assert stats["overall"]["all_time"]["mean_rating"] == pytest.approx(11 / 3)
    assert stats["by_type"]["formal"]["all_time"]["mean_rating"] == pytest.approx(3.0)
    assert stats["by_type"]["casual"]["all_time"]["corrections"] == 1
    assert sorted(every.json()["models"]) == ["tone-a", "tone-b"]
    assert unknown.status_code == 404
    assert "no feedback seen for model 'nope'" in unknown.json()["detail"]
    assert ingest_only.status_code == 403
