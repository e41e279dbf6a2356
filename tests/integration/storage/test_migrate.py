from __future__ import annotations

import re

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tonebridge.errors import StoreError
from tonebridge.job_kinds import JOB_KINDS
from tonebridge.storage import Database, ModelRepository
from tonebridge.storage.migrate import (
    current_revision,
    downgrade,
    downgrade_async,
    upgrade,
    upgrade_async,
)

pytestmark = pytest.mark.integration

TABLES = {"ab_tests", "datasets", "feedback", "models", "training_jobs"}


async def tables(url: str) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names()) - {"alembic_version"}

    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(names)
    finally:
        await database.dispose()


async def test_upgrade_downgrade_to_base_and_back(empty_database_url: str) -> None:
    url = empty_database_url
    assert await current_revision(url) is None
    await upgrade_async(url)
    assert await current_revision(url) == "0003"
    assert await tables(url) == TABLES
    await downgrade_async(url, "base")
    assert await current_revision(url) is None
    assert await tables(url) == set()
    await upgrade_async(url, "head")
    assert await tables(url) == TABLES
    database = Database(url)
    try:
        model = await ModelRepository(database).ensure_base("tone", "tiny-base")
        assert model.status == "production"
    finally:
        await database.dispose()


async def kind_check(url: str) -> str:
    def read(connection: Connection) -> str:
        checks = inspect(connection).get_check_constraints("training_jobs")
        (kind,) = (c["sqltext"] for c in checks if c["name"] == "ck_training_jobs_kind")
        return str(kind)

    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await database.dispose()


async def test_the_migrated_job_table_accepts_exactly_the_job_kinds(
    empty_database_url: str,
) -> None:
    await upgrade_async(empty_database_url)
    kinds = re.findall(r"'([a-z]+)'", await kind_check(empty_database_url))
    assert sorted(kinds) == sorted(JOB_KINDS)


def test_sync_upgrade_and_downgrade(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    downgrade(empty_database_url, "base")
    upgrade(empty_database_url)


async def test_unreachable_database_is_a_store_error(unique: str) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/missing_{unique}"
    with pytest.raises(StoreError, match=f'database "missing_{unique}" does not exist'):
        await upgrade_async(url)
