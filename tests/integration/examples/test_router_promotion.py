"""The whole promotion with the example service's router as the only traffic.

A base model is registered, the trainer trains and registers a candidate, the worker's
promotion agent starts an A/B test between them, the example service (``--route``) serves
users through the ExperimentRouter and reports their outcomes, the A/B agent decides for the
candidate, and the registry deploys it: the MLflow ``production`` alias moves and the router
sends everyone to the new production model. Nothing else sends an outcome.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from examples.inference_service import RoutedRewriteService, create_routed_app
from tests.conftest import postgres_database
from tests.support.trainer import FAST, Harness, command, eventually, started_trainer
from tonebridge.broker import EmbeddedBroker
from tonebridge.client.publisher import ProducerPublisher
from tonebridge.handlers.registry.store import PRODUCTION, Registry
from tonebridge.registration import ModelSpec, register, resolve
from tonebridge.settings import load_settings
from tonebridge.storage import ABTestRepository, Database, ModelRepository
from tonebridge.storage.migrate import upgrade_async
from tonebridge.storage.records import ABTestRecord
from tonebridge.topics.admin import create_topics
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
# Any trained candidate is tried (the held-out check is the trainer's tests' business); a
# decision comes after a few dozen requests.
POLICIES = {
    "policies": [],
    "promotion": {
        "min_improvement": -1000.0,
        "require_significant": False,
        "min_samples": 10,
        "metrics": [{"name": "success", "kind": "binary"}],
    },
}


@pytest.fixture(scope="module")
def tiny_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pre-trained tiny Llama, from pytest's cache when the handler tests built it."""
    from tonebridge.handlers.methods.tiny import build_model

    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("tonebridge-tiny-model") if cache else tmp_path_factory.mktemp("tiny")
    return build_model(root / "model")


@pytest.fixture
def database_url() -> Iterator[str]:
    """A database of its own: the worker (a process) and the trainer both write to it."""
    with postgres_database() as url:
        yield url


@pytest.fixture
async def harness(
    broker: EmbeddedBroker, database_url: str, tmp_path: Path, unique: str
) -> AsyncIterator[Harness]:
    await upgrade_async(database_url)
    settings = load_settings(
        data_dir=tmp_path,
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_prefix=f"rp-{unique}.",
        kafka_topic_partitions=2,
        kafka_session_timeout_s=3,
        kafka_rebalance_timeout_s=1,
        database_url=database_url,
        mlflow_tracking_uri="",
        retrain_enabled=False,
    )
    await create_topics(settings)
    db = Database(settings.sqlalchemy_url)
    yield Harness(settings, db, Registry.from_settings(settings), unique)
    await db.dispose()


@pytest.fixture
def worker(harness: Harness, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``tonebridge worker`` on the harness's topics and database, with the test's policy."""
    s, policies = harness.settings, tmp_path / "policies.yaml"
    policies.write_text(yaml.safe_dump(POLICIES))
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "worker"),
        "DATABASE_URL": s.sqlalchemy_url,
        "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": s.kafka_topic_prefix,
        "KAFKA_TOPIC_PARTITIONS": str(s.kafka_topic_partitions),
        "KAFKA_SESSION_TIMEOUT_S": str(s.kafka_session_timeout_s),
        "KAFKA_REBALANCE_TIMEOUT_S": str(s.kafka_rebalance_timeout_s),
        "RETRAIN_POLICIES_FILE": str(policies),
        "RETRAIN_ENABLED": "false",
    }
    command_line = [sys.executable, "-m", "tonebridge.cli", "worker", "--loglevel", "info"]
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            command_line, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
async def service(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    name = f"tone-{harness.unique}"
    app = create_routed_app(RoutedRewriteService(harness.settings, name))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://svc") as client,
    ):
        yield client


async def rewrite(client: httpx.AsyncClient, user: str, *, ready: bool = True) -> dict[str, Any]:
    """The service's answer; before anything routes the name, a 503 (``ready=False``: {})."""
    body = {"text": "send it asap", "tone": "formal", "user_id": user}
    response = await client.post("/rewrite", json=body)
    if response.status_code == 503 and not ready:
        return {}
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def serve_until_decided(
    client: httpx.AsyncClient, tests: ABTestRepository, candidate: str
) -> ABTestRecord:
    """Serve users until the test ends: the candidate's answers mostly succeed, production's
    mostly fail (the outcome is all the A/B agent learns)."""
    test_id = ""
    for n in range(1000):
        answer = await rewrite(client, f"user-{n}")
        if answer["test_id"] is None:  # the router saw the verdict
            break
        test_id = answer["test_id"]
        good = answer["model_id"] == candidate
        success = (n % 10 != 0) if good else (n % 10 == 0)
        body = {"request_id": answer["request_id"], "success": success}
        assert (await client.post("/outcome", json=body)).status_code == 202
        if (await tests.get(test_id)).status == "completed":
            break
    return await eventually(lambda: _completed(tests, test_id), 30, "the verdict's row")


async def _completed(tests: ABTestRepository, test_id: str) -> ABTestRecord | None:
    test = await tests.get(test_id)
    return test if test.status == "completed" else None


async def test_the_router_traffic_alone_promotes_the_better_candidate(
    harness: Harness,
    worker: subprocess.Popen[bytes],
    service: httpx.AsyncClient,
    tiny_model: Path,
) -> None:
    name = f"tone-{harness.unique}"
    spec = resolve(ModelSpec(kind="base", name=name, source=str(tiny_model)))
    async with ProducerPublisher(harness.settings) as events:
        base = (await register(ModelRepository(harness.db), events, spec)).model
    async with started_trainer(harness):
        await harness.feedback(base.id)
        sent = command("sft", model_id=base.id, config=FAST)
        await harness.send(TRAINING_COMMANDS_TOPIC, sent)
        job = await harness.job(sent["command_id"], "completed", "failed")
        assert job.status == "completed", job.error_message
        [candidate] = [m for m in await harness.models.list(name=name) if m.id != base.id]

        async def testing() -> dict[str, Any] | None:
            answer = await rewrite(service, "user-probe", ready=False)
            return answer if answer.get("test_id") is not None else None

        first = await eventually(testing, 120, "the promotion test to route users")
        assert first["test_id"].startswith("promotion-")
        unknown = {"request_id": "never-served", "success": True}
        assert (await service.post("/outcome", json=unknown)).status_code == 404
        tests = ABTestRepository(harness.db)
        decided = await serve_until_decided(service, tests, candidate.id)
        assert decided.winner == candidate.id, decided.results

        deployed = await eventually(
            lambda: _alias(harness, name), 120, "the production alias to move"
        )
        assert deployed == candidate.version
    assert (await harness.models.get(candidate.id)).status == "production"
    after = await eventually(lambda: _routed_to(service, candidate.id), 30, "the new route")
    assert (after["test_id"], after["arm_id"]) == (None, None)
    assert worker.poll() is None, "the worker stopped"


async def _alias(harness: Harness, name: str) -> str | None:
    return await asyncio.to_thread(harness.registry.alias_version, name, PRODUCTION)


async def _routed_to(client: httpx.AsyncClient, model_id: str) -> dict[str, Any] | None:
    answer = await rewrite(client, "user-after")
    return answer if answer["model_id"] == model_id else None
