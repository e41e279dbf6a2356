"""Fixtures shared by every tier: the embedded broker (once per session), unique names and
migrated databases on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tonebridge.broker import EmbeddedBroker  # noqa: E402
from tonebridge.settings import Settings, load_settings  # noqa: E402

if TYPE_CHECKING:
    from tonebridge.storage.db import Database


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One embedded broker for the whole test session (memory only)."""
    embedded = EmbeddedBroker()
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic names, consumer groups and databases."""
    return uuid.uuid4().hex[:10]


# --- databases -------------------------------------------------------------------------
# The same repository tests run on PostgreSQL and SQLite: ask for ``database`` (a migrated
# Database, once per dialect). Each dialect's database is created and migrated once per
# session and shared, so tests must use their own ids and names (``unique``).


def _postgres_settings(db_name: str) -> Settings:
    """Settings for PostgreSQL database ``db_name`` (host from POSTGRES_* or 127.0.0.1)."""
    base = load_settings()
    return load_settings(
        database_url=None,
        postgres_host=base.postgres_host or "127.0.0.1",
        postgres_db=db_name,
    )


async def _postgres_admin(statement: str) -> None:
    import asyncpg  # storage imports stay lazy: unit tests do not pay for them

    settings = _postgres_settings("postgres")
    connection = await asyncpg.connect(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password.get_secret_value() or None,
        database="postgres",
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty, uniquely named PostgreSQL database; its async URL; dropped after."""
    name = f"tonebridge_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _postgres_settings(name).sqlalchemy_url
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A PostgreSQL database migrated to head, for the whole session."""
    from tonebridge.storage.migrate import upgrade

    with postgres_database() as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file migrated to head, for the whole session."""
    from tonebridge.storage.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'tonebridge.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated database, once per dialect."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated :class:`Database` on each dialect (engine disposed after the test)."""
    from tonebridge.storage.db import Database

    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database with no tables, once per dialect, for migration tests."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    with postgres_database() as url:
        yield url
