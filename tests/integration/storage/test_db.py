from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from tonebridge.settings import load_settings
from tonebridge.storage import Database, ModelRepository, open_database
from tonebridge.storage.migrate import upgrade, upgrade_async

pytestmark = pytest.mark.integration


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(
    sqlite_url: str,
) -> None:
    database = Database(sqlite_url)
    try:
        async with database.read() as session:
            pragmas = [
                (await session.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
    finally:
        await database.dispose()
    assert pragmas == ["wal", 1, 10_000]


async def test_default_settings_open_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var", database_url=None, postgres_host=None)
    await upgrade_async(settings.sqlalchemy_url)  # creates the missing folder
    database = open_database(settings)
    try:
        assert database.dialect == "sqlite"
        async with database.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM models"))).scalar() == 0
    finally:
        await database.dispose()
    assert (tmp_path / "var" / "tonebridge.db").exists()


def test_url_hides_the_password() -> None:
    database = Database("postgresql+asyncpg://tb:s3cret@127.0.0.1:5432/tb")
    assert "s3cret" not in database.url
    assert database.dialect == "postgresql"


async def test_sync_upgrade_inside_an_event_loop_says_what_to_use(sqlite_url: str) -> None:
    with pytest.raises(RuntimeError, match=r"await upgrade_async\(\) instead"):
        upgrade(sqlite_url)


async def test_handles_writing_at_once_all_succeed(database_url: str, unique: str) -> None:
    # Engines on one SQLite file behave like separate processes. ``add`` reads, then
    # writes: under a plain deferred BEGIN most of these fail at once with "database is
    # locked" (measured: 25 of 40); BEGIN IMMEDIATE makes each wait its turn instead.
    handles = [Database(database_url) for _ in range(4)]
    try:
        writes = [
            ModelRepository(handles[n % 4]).add(
                name=f"tone-{unique}-{n}", version="1", model_type="t", base_model="b", path="p"
            )
            for n in range(40)
        ]
        models = await asyncio.gather(*writes)
    finally:
        for handle in handles:
            await handle.dispose()
    assert len({model.id for model in models}) == 40
