"""The database handle: one async engine and its session factories.

On SQLite every connection gets WAL (readers never wait for the writer), foreign keys ON
(off by default in SQLite) and a busy timeout, and a write transaction starts with
``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes fails at once with
"database is locked" when another writer got in between, instead of waiting its turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tonebridge.errors import DataRefusedError, IntegrityError, StoreError, StoreUnavailableError
from tonebridge.settings import Settings, get_settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
_READ_ONLY = "tonebridge_read_only"


class Database:
    """An async engine plus session factories for reading and for writing."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        ensure_sqlite_parent(url)
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, pool_pre_ping=True)
        self.dialect: str = self.engine.dialect.name
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        reader = self.engine.execution_options(**{_READ_ONLY: True})
        self._write_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(reader, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Database:
        return cls((settings or get_settings()).sqlalchemy_url)

    @property
    def url(self) -> str:
        """The URL with any password masked, for logs."""
        return self.engine.url.render_as_string(hide_password=True)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on exit and rolls back on error."""
        async with _translated(), self._write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; on SQLite it does not take the write lock."""
        async with _translated(), self._read_sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.dispose()


def open_database(settings: Settings | None = None) -> Database:
    """The database the settings point at (``DATABASE_URL``, PostgreSQL or SQLite)."""
    return Database.from_settings(settings)


def ensure_sqlite_parent(url: str) -> None:
    """Create the folder of a SQLite file, which SQLite will not do itself."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return
    Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """Turn driver errors into :mod:`tonebridge.errors` with the database's own words."""
    try:
        yield
    except exc.IntegrityError as error:
        msg = f"constraint violated: {_first_line(error.orig)}"
        raise IntegrityError(msg) from error
    # asyncpg's own errors and OSError reach us unwrapped when a connection is opened.
    except (exc.SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise _store_error(error) from error


def _store_error(error: BaseException) -> StoreError:
    cause = getattr(error, "orig", None) or error
    if is_unavailable(error):
        return StoreUnavailableError(f"database unavailable: {_first_line(cause)}")
    if is_refused_data(error):
        return DataRefusedError(f"the database refused the data: {_first_line(cause)}")
    return StoreError(f"database error: {_first_line(cause)}")


def is_refused_data(error: BaseException) -> bool:
    """Whether the values themselves are wrong (SQLSTATE class 22: a NUL in text, a value too
    long, out of range; 54: a value past a program limit; or a value the driver could not
    send at all): the same write can never succeed."""
    if isinstance(error, exc.DataError):
        return True
    if isinstance(error, exc.StatementError) and not isinstance(error, exc.DBAPIError):
        return True  # raised while the parameters were prepared, before the database saw them
    sqlstate = getattr(getattr(error, "orig", None) or error, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(("22", "54"))


# SQLSTATE classes that mean "not reachable now": 08 connection exception, 53 insufficient
# resources (too many connections), 57P admin/crash shutdown or still starting, 3D000 no
# such database (yet: it is being created or restored).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P", "3D000")
# SQLite primary result codes that mean the same: BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL.
_UNAVAILABLE_SQLITE_CODES = frozenset({5, 6, 10, 13, 14, 15})


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached now (a retry may succeed)."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    cause = getattr(error, "orig", None) or error
    sqlite_code = getattr(cause, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):  # SQLite says OperationalError for "no such table" too
        return sqlite_code & 0xFF in _UNAVAILABLE_SQLITE_CODES
    if isinstance(error, exc.OperationalError | exc.InterfaceError | OSError):
        return True
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    return isinstance(cause, asyncpg.PostgresConnectionError | asyncpg.InterfaceError)


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
