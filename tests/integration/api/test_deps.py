"""Auth and rate limits through the app, on both guard-store backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.api.helpers import (
    ADMIN,
    INGEST,
    REDIS_HOST,
    REDIS_PORT,
    api_settings_for,
    drop_redis_prefix,
    running_client,
)
from tonebridge.api.guard_store import GuardStore, RedisGuardStore
from tonebridge.broker import EmbeddedBroker
from tonebridge.storage.db import Database

pytestmark = pytest.mark.integration


async def test_each_key_gets_its_own_budget_then_429_with_retry_after(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database, guard_store: GuardStore
) -> None:
    settings = api_settings_for(broker, unique, tmp_path, api_rate_limit_per_minute=3)
    async with running_client(settings, database, guard_store=guard_store) as client:
        codes = [(await client.get("/models", headers=ADMIN)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = await client.get("/models", headers=ADMIN)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "3 requests per minute" in refused.json()["detail"]
        assert (await client.get("/healthz")).status_code == 200  # probes are not limited
        other_key = await client.post("/feedback", json={}, headers=INGEST)
        assert other_key.status_code == 422  # counted separately: reached validation


async def test_the_ingest_routes_are_limited_per_key_too(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database, guard_store: GuardStore
) -> None:
    """The ingest routes check key, scope and limit in one dependency of their own."""
    settings = api_settings_for(broker, unique, tmp_path, api_rate_limit_per_minute=2)
    async with running_client(settings, database, guard_store=guard_store) as client:
        codes = [
            (await client.post(path, json={}, headers=INGEST)).status_code
            for path in ("/feedback", "/outcomes", "/feedback")
        ]
        assert codes == [422, 422, 429]  # the first two reached validation
        refused = await client.post("/outcomes", json={}, headers=INGEST)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert (await client.post("/feedback", json={})).status_code == 401
        assert (await client.post("/feedback", json={}, headers=ADMIN)).status_code == 422


async def test_without_keys_on_loopback_everything_is_open(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database
) -> None:
    settings = api_settings_for(broker, unique, tmp_path, api_admin_keys=[], api_ingest_keys=[])
    async with running_client(settings, database) as client:
        assert (await client.get("/models")).status_code == 200
        assert (await client.get("/models", headers=ADMIN)).status_code == 200
        assert (await client.post("/feedback", json={})).status_code == 422  # reached validation


async def test_api_instances_share_limits_through_redis(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database
) -> None:
    settings = api_settings_for(broker, unique, tmp_path, api_rate_limit_per_minute=2)
    prefix = f"tonebridge-test:{unique}:"
    first_store = RedisGuardStore(REDIS_HOST, REDIS_PORT, prefix)
    second_store = RedisGuardStore(REDIS_HOST, REDIS_PORT, prefix)
    try:
        async with (
            running_client(settings, database, guard_store=first_store) as first,
            running_client(settings, database, guard_store=second_store) as second,
        ):
            codes = [
                (await client.get("/models", headers=ADMIN)).status_code
                for client in (first, second, first)
            ]
    finally:
        await first_store.close()
        await second_store.close()
        await drop_redis_prefix(prefix)
    assert codes == [200, 200, 429]
