from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tonebridge.errors import StoreError, StoreUnavailableError
from tonebridge.retry import is_transient
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


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable_urls(postgresql_url: str) -> dict[str, str]:
    parsed = make_url(postgresql_url)
    return {
        "closed port": parsed.set(port=closed_port()).render_as_string(hide_password=False),
        "no such database": parsed.set(database=f"missing_{uuid.uuid4().hex[:8]}").render_as_string(
            hide_password=False
        ),
    }


@pytest.mark.parametrize("case", ["closed port", "no such database"])
async def test_an_unreachable_postgresql_is_a_retryable_store_error(
    postgresql_url: str, case: str
) -> None:
    database = Database(unreachable_urls(postgresql_url)[case])
    try:
        with pytest.raises(StoreUnavailableError, match="database unavailable") as raised:
            await ModelRepository(database).list()
    finally:
        await database.dispose()
    assert raised.value.retryable
    assert is_transient(raised.value)  # the worker retries it in place, it does not exit


async def test_a_connection_dropped_mid_transaction_is_a_retryable_store_error(
    postgresql_url: str,
) -> None:
    database = Database(postgresql_url)
    admin = Database(postgresql_url)
    try:
        with pytest.raises(StoreUnavailableError) as raised:
            async with database.read() as session:
                pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar()
                async with admin.write() as other:
                    await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                await session.execute(text("SELECT 1"))
        async with database.read() as session:  # the pool replaced the dropped connection
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await database.dispose()
        await admin.dispose()
    assert is_transient(raised.value)


async def test_other_database_errors_stay_plain_store_errors(database: Database) -> None:
    with pytest.raises(StoreError, match="database error") as raised:
        async with database.read() as session:
            await session.execute(text("SELECT * FROM no_such_table_at_all"))
    assert type(raised.value) is StoreError  # not "unavailable": retrying will not help
