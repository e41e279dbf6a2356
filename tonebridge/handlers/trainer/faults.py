"""Which failures a retry can cure, and how the trainer retries them (pure but for sleeping).

A failure is *transient* when the same call may succeed later: the database, the broker or
MLflow unreachable, a timeout, a raw ``OSError`` from a driver. Everything else is
*permanent* for that input: a constraint, an encoding the database refuses (NUL), a value
too long for its column, an unknown model. The store wraps every driver error in
:class:`~tonebridge.errors.StoreError` (retryable by default), so its cause decides.

Retries wait ``base * 2**n`` seconds, at most ``cap``, with full jitter (a uniform draw up to
that), so trainers that lost the same database do not all come back at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiokafka.errors import KafkaError
from sqlalchemy import exc

from tonebridge.errors import StoreError, TonebridgeError
from tonebridge.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
# MLflow error codes that say the request itself is wrong; any other code may pass later.
_PERMANENT_MLFLOW = frozenset(
    {
        "BAD_REQUEST",
        "INVALID_PARAMETER_VALUE",
        "INVALID_STATE",
        "PERMISSION_DENIED",
        "RESOURCE_ALREADY_EXISTS",
        "RESOURCE_DOES_NOT_EXIST",
        "ENDPOINT_NOT_FOUND",
    }
)


def is_transient(error: BaseException) -> bool:
    """Whether doing the same thing again may succeed."""
    if isinstance(error, OSError | TimeoutError):  # ConnectionRefusedError is an OSError
        return True
    if type(error) is StoreError and error.__cause__ is not None:
        return _transient_database(error.__cause__)
    if isinstance(error, exc.SQLAlchemyError):
        return _transient_database(error)
    if isinstance(error, TonebridgeError):
        return error.retryable
    if isinstance(error, KafkaError):
        return bool(error.retriable)
    if type(error).__name__ == "MlflowException":
        return getattr(error, "error_code", "") not in _PERMANENT_MLFLOW
    return type(error).__name__ == "ProducerSendError"


def _transient_database(error: BaseException) -> bool:
    """Connection trouble is transient; what the database says about the data is not."""
    if isinstance(error, OSError | TimeoutError | exc.TimeoutError):
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        return isinstance(error, exc.OperationalError | exc.InterfaceError)
    return False


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter; ``attempts`` None retries for ever."""

    base_s: float = 0.2
    cap_s: float = 30.0
    attempts: int | None = 8

    @classmethod
    def from_settings(cls, settings: Settings, *, bounded: bool = True) -> Backoff:
        attempts = settings.trainer_retry_attempts if bounded else None
        return cls(settings.trainer_retry_base_s, settings.trainer_retry_cap_s, attempts)

    def pause(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        return random.uniform(0, min(self.cap_s, self.base_s * 2 ** min(attempt, 32)))  # noqa: S311

    def gives_up(self, attempt: int) -> bool:
        return self.attempts is not None and attempt + 1 >= self.attempts


async def retrying(work: Callable[[], Awaitable[T]], backoff: Backoff, what: str) -> T:
    """``work()``, retried while it fails transiently and ``backoff`` allows; else raises."""
    attempt = 0
    while True:
        try:
            return await work()
        except Exception as error:
            if not is_transient(error) or backoff.gives_up(attempt):
                raise
            pause = backoff.pause(attempt)
            log.warning(
                "%s failed (try %d), retrying in %.2fs: %r", what, attempt + 1, pause, error
            )
            attempt += 1
            await asyncio.sleep(pause)
