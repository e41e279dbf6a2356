"""Fixtures of handler tests: the tiny local Llama (kept in pytest's cache between sessions)
and a trainer harness on the embedded broker, a migrated database and MLflow in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.trainer import Harness, RunningTrainer, started_trainer
from tonebridge.broker import EmbeddedBroker
from tonebridge.handlers.registry.store import Registry
from tonebridge.handlers.trainer.service import TOPICS
from tonebridge.settings import Settings, load_settings
from tonebridge.storage import Database
from tonebridge.topics.admin import create_topics


@pytest.fixture(scope="session")
def tiny_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pre-trained tiny Llama + tokenizer folder, reused from pytest's cache if built."""
    from tonebridge.handlers.methods.tiny import build_model

    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    root = cache.mkdir("tonebridge-tiny-model") if cache else tmp_path_factory.mktemp("tiny")
    return build_model(root / "model")


@pytest.fixture
def trainer_settings(
    broker: EmbeddedBroker, database_url: str, tmp_path: Path, unique: str
) -> Settings:
    return load_settings(
        data_dir=tmp_path,
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_prefix=f"tr-{unique}.",
        kafka_topic_partitions=2,
        # A killed trainer's group membership lapses after this; shorter is a faster test.
        kafka_session_timeout_s=6.0,
        database_url=database_url,
        mlflow_tracking_uri="",
    )


@pytest.fixture
async def harness(trainer_settings: Settings, unique: str) -> AsyncIterator[Harness]:
    # Created up front: a producer that got there first would auto-create other counts.
    await create_topics(trainer_settings, TOPICS)
    db = Database(trainer_settings.sqlalchemy_url)
    yield Harness(trainer_settings, db, Registry.from_settings(trainer_settings), unique)
    await db.dispose()


@pytest.fixture
async def trainer(harness: Harness) -> AsyncIterator[RunningTrainer]:
    async with started_trainer(harness) as running:
        yield running
