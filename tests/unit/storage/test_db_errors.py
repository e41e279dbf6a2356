"""How the storage layer sorts driver errors: unreachable (retry), refused data (dead letter),
a violated constraint, or anything else (retry: the database may be busy or not ready yet).
The same sorting is checked against a real PostgreSQL in tests/integration/storage."""

from __future__ import annotations

import pytest
from sqlalchemy import exc

from tonebridge.errors import DataRefusedError, StoreError, StoreUnavailableError
from tonebridge.retry import is_transient
from tonebridge.storage.db import _store_error


class DriverError(Exception):
    """Like asyncpg's errors: a SQLSTATE on the exception."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(sqlstate: str) -> exc.DBAPIError:
    return exc.DBAPIError("INSERT", {}, DriverError(sqlstate))


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (wrapped("08006"), StoreUnavailableError),  # connection failure
        (wrapped("57P03"), StoreUnavailableError),  # cannot connect now (starting up)
        (ConnectionRefusedError(111, "refused"), StoreUnavailableError),
        (wrapped("22021"), DataRefusedError),  # NUL: invalid byte sequence for UTF8
        (wrapped("22001"), DataRefusedError),  # value too long for its varchar
        (wrapped("54000"), DataRefusedError),  # a program limit: a value too large
        (exc.StatementError("bad json", "INSERT", {}, ValueError("NaN")), DataRefusedError),
        (wrapped("40001"), StoreError),  # serialization failure: try again
        (wrapped("42P01"), StoreError),  # no such table (yet): wait for the migration
    ],
)
def test_driver_errors_are_sorted_by_what_a_retry_can_do(
    error: Exception, kind: type[StoreError]
) -> None:
    sorted_error = _store_error(error)
    assert type(sorted_error) is kind
    assert is_transient(sorted_error) is (kind is not DataRefusedError)
