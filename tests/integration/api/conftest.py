"""Fixtures for the API tests: guard stores on both backends, a running app, a topic reader."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.integration.api.helpers import (
    REDIS_HOST,
    REDIS_PORT,
    api_settings_for,
    drop_redis_prefix,
    running_client,
)
from tonebridge.api.guard_store import GuardStore, MemoryGuardStore, RedisGuardStore
from tonebridge.broker import EmbeddedBroker
from tonebridge.settings import Settings
from tonebridge.storage.db import Database
from tonebridge.topics.admin import create_topics


@pytest.fixture(params=["memory", "redis"])
async def guard_store(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[GuardStore]:
    """The same tests run against per-process memory and a real Redis."""
    prefix = f"tonebridge-test:{unique}:"
    store: GuardStore
    if request.param == "redis":
        store = RedisGuardStore(REDIS_HOST, REDIS_PORT, prefix)
    else:
        store = MemoryGuardStore(prefix)
    yield store
    await store.close()
    if request.param == "redis":
        await drop_redis_prefix(prefix)


@pytest.fixture
async def api_settings(broker: EmbeddedBroker, unique: str, tmp_path: Path) -> Settings:
    """Settings with this test's own topics (created) and keys."""
    settings = api_settings_for(broker, unique, tmp_path)
    await create_topics(settings)
    return settings


@pytest.fixture
async def client(api_settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to a started app (real broker, real database)."""
    async with running_client(api_settings, database) as http:
        yield http
