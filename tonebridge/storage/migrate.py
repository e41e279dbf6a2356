"""Schema migrations from code: ``upgrade(url)``, ``downgrade(url, revision)``.

The sync functions run their own event loop (CLI, scripts, sync test fixtures); inside a
running loop use the ``*_async`` ones, which run Alembic on a connection of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from tonebridge.settings import get_settings
from tonebridge.storage.db import ensure_sqlite_parent

MIGRATIONS = Path(__file__).with_name("migrations")

_Command = Callable[[Config], None]


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for the packaged migrations (no alembic.ini needed)."""
    resolved = url or get_settings().sqlalchemy_url
    ensure_sqlite_parent(resolved)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = resolved
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def revision(message: str, url: str | None = None, *, autogenerate: bool = True) -> None:
    """Write a new revision file; autogenerate diffs the ORM against a database at head."""
    command.revision(alembic_config(url), message=message, autogenerate=autogenerate)


async def upgrade_async(url: str | None = None, revision: str = "head") -> None:
    await _on_connection(url, lambda config: command.upgrade(config, revision))


async def downgrade_async(url: str | None, revision: str) -> None:
    await _on_connection(url, lambda config: command.downgrade(config, revision))


async def current_revision(url: str | None = None) -> str | None:
    """The revision the database is at (``None`` before the first upgrade)."""
    engine = create_async_engine(url or get_settings().sqlalchemy_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


async def _on_connection(url: str | None, run: _Command) -> None:
    config = alembic_config(url)
    engine = create_async_engine(config.attributes["url"], poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_with_connection, config, run)
    finally:
        await engine.dispose()


def _with_connection(connection: Connection, config: Config, run: _Command) -> None:
    config.attributes["connection"] = connection
    run(config)

