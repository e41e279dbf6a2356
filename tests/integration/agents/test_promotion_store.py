"""The promotion agent's database adapters, on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tonebridge.agents.promotion import DatabaseProduction, DatabasePromotionTests
from tonebridge.decisions.promotion import (
    DEFAULT_POLICY,
    StartTest,
    on_registered,
    promotion_test_id,
)
from tonebridge.storage import ABTestRepository, Database, ModelRepository

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """On PostgreSQL and SQLite (this folder's conftest has a SQLite-only ``database``)."""
    db = Database(database_url)
    yield db
    await db.dispose()


async def models(database: Database, unique: str) -> tuple[str, str, str]:
    repo = ModelRepository(database)
    name = f"tone-{unique}"
    base = await repo.ensure_base(name, "tiny-base")
    new = await repo.add(name=name, version="1", model_type="t", base_model="tiny-base", path="p")
    return name, base.id, new.id


def start(name: str, new: str, production: str) -> StartTest:
    registered = {
        "event_id": f"reg-{new}", "model_id": new, "name": name, "version": "1",
        "event_time": datetime.now(UTC),
        "metrics": {"chrf": 70.0, "baseline_chrf": 1.0, "vs_baseline_verdict": 1.0},
    }  # fmt: skip
    step = on_registered(DEFAULT_POLICY, registered, production)
    assert isinstance(step, StartTest)
    return step


async def test_production_is_read_from_the_models_table(database: Database, unique: str) -> None:
    name, base, new = await models(database, unique)
    production = DatabaseProduction(ModelRepository(database))
    assert await production.production_id(name) == base
    await ModelRepository(database).promote(new)
    assert await production.production_id(name) == new
    assert await production.production_id(f"nothing-{unique}") is None


async def test_a_recorded_test_runs_until_completed(database: Database, unique: str) -> None:
    name, base, new = await models(database, unique)
    repository = ABTestRepository(database)
    tests = DatabasePromotionTests(repository)
    command = start(name, new, base).command
    await tests.record(name, command)
    await tests.record(name, command)  # a replay
    stored = await repository.get(promotion_test_id(new, f"reg-{new}"))
    assert (stored.model_a_id, stored.model_b_id, stored.status) == (base, new, "active")
    assert stored.config["model_name"] == name and stored.config["min_samples"] == 100
    assert await tests.running(name) == promotion_test_id(new, f"reg-{new}")
    assert await tests.running(f"other-{unique}") is None
    await repository.complete(promotion_test_id(new, f"reg-{new}"), new, {})
    assert await tests.running(name) is None


async def test_a_test_of_unknown_models_is_not_stored(database: Database, unique: str) -> None:
    name, base, _ = await models(database, unique)
    tests = DatabasePromotionTests(ABTestRepository(database))
    await tests.record(name, start(name, f"ghost-{unique}", base).command)  # logs, no raise
    assert await tests.running(name) is None
