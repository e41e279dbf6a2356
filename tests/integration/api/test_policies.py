"""GET /policies: the policies the worker runs on the same settings, and where each stands
per model, read from what the feedback agent writes to its table's changelog (records made
with the agent's own fold, policy evaluation and encoding)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.api.helpers import (
    ADMIN,
    INGEST,
    api_settings_for,
    running_client,
    write_table,
)
from tonebridge.broker import EmbeddedBroker
from tonebridge.decisions import model_feedback
from tonebridge.decisions.model_feedback import ModelFeedback
from tonebridge.decisions.retraining import DEFAULT_FILE, load_policies, parse_policies
from tonebridge.settings import Settings
from tonebridge.stats.feedback import sample_from_record
from tonebridge.storage.db import Database
from tonebridge.topics.admin import create_topics
from tonebridge.topics.feedback import feedback_event

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),  # dialect-free
]
AT = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
POLICIES = """
policies:
  - name: fixes
    kind: min_corrections
    threshold: 3
    cooldown: 1h
  - name: low
    kind: mean_rating_below
    threshold: 3.0
    window: all_time
    min_samples: 2
    models: ["tone-a"]
"""


async def settings_for(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, **overrides: Any
) -> Settings:
    settings = api_settings_for(broker, unique, tmp_path, **overrides)
    await create_topics(settings)
    return settings


def corrections(model_id: str, count: int) -> ModelFeedback:
    """The agent's state after ``count`` corrected (rated 2) events, one message each."""
    rules = parse_policies({"policies": [{"name": "fixes", "kind": "min_corrections",
                                          "threshold": 3, "cooldown": "1h"}]})  # fmt: skip
    state = ModelFeedback()
    for n in range(count):
        record = feedback_event(
            user_id=f"u{n}", model_id=model_id, input_text="send it asap",
            output_text="Send it now.", transformation_type="formal", rating=2,
            corrected_text="Send it soon, please.", event_time=AT + timedelta(minutes=n),
        )  # fmt: skip
        sample = [(record["transformation_type"], sample_from_record(record))]
        state = model_feedback.fold(state, sample, "feedback/0", n)
        state, _ = model_feedback.apply_policies(model_id, state, rules)
    return state


def ms(minutes: int) -> str:
    return (AT + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def test_each_policy_with_its_progress_per_model(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database
) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(POLICIES)
    settings = await settings_for(broker, unique, tmp_path, retrain_policies_file=path)
    # tone-a: 2 corrections, not there yet; tone-b: the third fired, the fourth counts anew
    await write_table(
        settings, {"tone-a": corrections("tone-a", 2), "tone-b": corrections("tone-b", 4)}
    )
    async with running_client(settings, database) as client:
        every = await client.get("/policies", params={"fresh": True}, headers=ADMIN)
        one = await client.get("/policies", params={"model_id": "tone-b"}, headers=ADMIN)
        ingest_only = await client.get("/policies", headers=INGEST)
    assert every.status_code == 200, every.text
    body = every.json()
    assert (body["enabled"], body["source"]) == (True, str(path))
    fixes, low = body["policies"]
    assert (fixes["name"], fixes["kind"], low["name"]) == ("fixes", "min_corrections", "low")
    assert fixes["definition"]["threshold"] == 3
    assert fixes["definition"]["cooldown_ms"] == 3_600_000
    a, b = fixes["models"]["tone-a"], fixes["models"]["tone-b"]
    assert (a["measure"], a["value"], a["threshold"], a["met"]) == ("corrections", 2, 3, False)
    assert (a["last_fired_at"], a["cooldown_until"], a["cooling"]) == (None, None, False)
    assert (b["value"], b["samples"], b["as_of"]) == (1, 1, ms(3))
    assert (b["last_fired_at"], b["cooldown_until"], b["cooling"]) == (ms(2), ms(62), True)
    assert list(low["models"]) == ["tone-a"]  # the rating policy is for tone-a only
    rating = low["models"]["tone-a"]
    assert (rating["measure"], rating["value"], rating["fires_when"]) == (
        "mean_rating",
        2.0,
        "below",
    )
    assert (rating["samples"], rating["min_samples"], rating["met"]) == (2, 2, True)
    assert rating["rearm_at"] == 3.25
    assert list(one.json()["policies"][0]["models"]) == ["tone-b"]
    assert ingest_only.status_code == 403


async def test_without_a_file_the_default_policies_show(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database
) -> None:
    settings = await settings_for(broker, unique, tmp_path)
    async with running_client(settings, database) as client:
        response = await client.get("/policies", headers=ADMIN)
    body = response.json()
    assert (body["enabled"], body["source"]) == (True, "default")
    defaults = load_policies(DEFAULT_FILE)
    assert [p["name"] for p in body["policies"]] == [p.name for p in defaults]
    assert [p["definition"] for p in body["policies"]] == [
        p.model_dump(mode="json") for p in defaults
    ]


async def test_retraining_off_shows_no_policy(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database
) -> None:
    settings = await settings_for(broker, unique, tmp_path, retrain_enabled=False)
    await write_table(settings, {"tone-a": corrections("tone-a", 2)})
    async with running_client(settings, database) as client:
        response = await client.get("/policies", params={"fresh": True}, headers=ADMIN)
    assert response.json() == {"enabled": False, "source": "default", "policies": []}
