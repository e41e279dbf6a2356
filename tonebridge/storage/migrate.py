"""Schema migrations from code: ``upgrade(url)``, ``downgrade(url, revision)``.

The sync functions run their own event loop (CLI, scripts, sync test fixtures); inside a
running loop use the ``*_async`` ones, which run Alembic on a connection of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from tonebridge.errors import StoreError
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
    _require_no_running_loop("upgrade")
    config = alembic_config(url)
    with _store_errors(config):
        command.upgrade(config, revision)


def downgrade(url: str | None, revision: str) -> None:
    _require_no_running_loop("downgrade")
    config = alembic_config(url)
    with _store_errors(config):
        command.downgrade(config, revision)


def new_revision(message: str, url: str | None = None, *, autogenerate: bool = True) -> None:
    """Write a new revision file; autogenerate diffs the ORM against a database at head."""
    command.revision(alembic_config(url), message=message, autogenerate=autogenerate)


async def upgrade_async(url: str | None = None, revision: str = "head") -> None:
    await _on_connection(url, lambda config: command.upgrade(config, revision))


async def downgrade_async(url: str | None, revision: str) -> None:
    await _on_connection(url, lambda config: command.downgrade(config, revision))


async def current_revision(url: str | None = None) -> str | None:
    """The revision the database is at (``None`` before the first upgrade)."""
    config = alembic_config(url)
    engine = create_async_engine(config.attributes["url"], poolclass=pool.NullPool)
    try:
        with _store_errors(config):
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
        with _store_errors(config):
            async with engine.begin() as connection:
                await connection.run_sync(_with_connection, config, run)
    finally:
        await engine.dispose()


def _with_connection(connection: Connection, config: Config, run: _Command) -> None:
    config.attributes["connection"] = connection
    run(config)


def _require_no_running_loop(name: str) -> None:
    """Alembic's env runs its own loop; inside a running one that cannot work."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    msg = f"{name}() called inside a running event loop: await {name}_async() instead"
    raise RuntimeError(msg)


@contextmanager
def _store_errors(config: Config) -> Iterator[None]:
    """Report a database that cannot be reached or migrated as a :class:`StoreError`."""
    try:
        yield
    except SQLAlchemyError as error:
        where = make_url(config.attributes["url"]).render_as_string(hide_password=True)
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        msg = f"migrating {where} failed: {reason}"
        raise StoreError(msg) from error
