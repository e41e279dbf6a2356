"""GET /feedback/stats reads what the feedback agent writes to its table's changelog.

The first test makes the changelog records with the agent's own fold and encoding (the API's
read path alone); the last runs the real worker end to end.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.api.helpers import (
    ADMIN,
    INGEST,
    known_models,
    running_client,
    write_table,
)
from tonebridge.decisions import model_feedback
from tonebridge.decisions.retraining import DEFAULT_FILE, load_policies
from tonebridge.settings import Settings
from tonebridge.stats.feedback import sample_from_record
from tonebridge.storage.db import Database
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


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the API part is dialect-free
async def test_end_to_end_through_the_stream_worker(
    api_settings: Settings, database: Database, database_url: str
) -> None:
    """POST /feedback -> the feedback topic -> ``tonebridge worker`` -> its table's changelog
    -> GET /feedback/stats and GET /policies."""
    await known_models(database, "tone-e2e")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tonebridge.cli", "worker", "--loglevel", "warning"],
        env=worker_env(api_settings, database_url),
    )
    try:
        async with running_client(api_settings, database) as client:
            ratings = [{**posted(n), "rating": n} for n in (1, 3, 5)]
            response = await client.post("/feedback", json={"events": ratings}, headers=INGEST)
            assert response.status_code == 202
            stats = await wait_for_count(client, worker, "tone-e2e", 3)
            params = {"model_id": "tone-e2e"}
            policies = await client.get("/policies", params=params, headers=ADMIN)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert stats["overall"]["all_time"]["mean_rating"] == pytest.approx(3.0)
    assert stats["by_type"]["formal"]["all_time"]["rating_histogram"] == {
        "1": 1, "2": 0, "3": 1, "4": 0, "5": 1,
    }  # fmt: skip
    # No RETRAIN_POLICIES_FILE: the packaged defaults, judged on the worker's table.
    shown = policies.json()["policies"][0]
    assert shown["name"] == load_policies(DEFAULT_FILE)[0].name
    counted = shown["models"]["tone-e2e"]
    assert (counted["measure"], counted["value"], counted["samples"]) == ("corrections", 0, 3)


def posted(n: int) -> dict[str, Any]:
    return {
        "user_id": f"u{n}",
        "model_id": "tone-e2e",
        "input_text": "send it asap",
        "output_text": "Send it now.",
        "transformation_type": "formal",
    }


def worker_env(settings: Settings, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS_"))}
    return env | {
        "PYTHONPATH": str(Path.cwd()),
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "KAFKA_TOPIC_PARTITIONS": str(settings.kafka_topic_partitions),
        "DATABASE_URL": database_url,
        "DATA_DIR": str(settings.data_dir),
    }


async def wait_for_count(
    client: httpx.AsyncClient, worker: subprocess.Popen[bytes], model_id: str, count: int
) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        params = {"model_id": model_id, "fresh": True}
        response = await client.get("/feedback/stats", params=params, headers=ADMIN)
        if response.status_code == 200:
            stats: dict[str, Any] = response.json()["models"][model_id]
            if stats["overall"]["all_time"]["count"] >= count:
                return stats
        assert worker.poll() is None, f"the worker exited with {worker.returncode}"
        assert time.monotonic() < deadline, f"no stats for {model_id} after 120 s: {response.text}"
        await asyncio.sleep(0.2)
