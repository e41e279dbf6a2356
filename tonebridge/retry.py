"""Which failures a retry can cure, and how every process retries them.

A failure is *transient* when the same call may succeed later: the database, Redis, the
broker or MLflow unreachable, a timeout, a raw ``OSError`` from a driver. Everything else is
*permanent* for that input (a constraint, a value the database refuses, an unknown model): it
is dead-lettered or answered with a 4xx, never retried. The storage layer has already sorted
database errors (:mod:`tonebridge.storage.db`), so a tonebridge error's ``retryable`` decides.

Retries wait ``base * 2**n`` seconds, at most ``cap``, with full jitter (a uniform draw up to
that), so processes that lost the same database do not all come back at once. The worker
retries for as long as a failure lasts (its batch waits); the trainer bounds some retries
(``TRAINER_RETRY_ATTEMPTS``) and then dead-letters the command or fails the job.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiokafka.errors import KafkaError

from tonebridge.errors import TonebridgeError
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
    if isinstance(error, TonebridgeError):
        return error.retryable
    if isinstance(error, KafkaError):
        return bool(error.retriable)
    if isinstance(error, OSError | TimeoutError):  # ConnectionRefusedError is an OSError
        return True
    if type(error).__name__ == "MlflowException":
        return getattr(error, "error_code", "") not in _PERMANENT_MLFLOW
    # faust wraps producer failures in ProducerSendError (not a KafkaError)
    return type(error).__name__ == "ProducerSendError"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter; ``attempts`` None retries for as long as it takes."""

    base_s: float = 0.1
    cap_s: float = 30.0
    attempts: int | None = None

    def pause(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(attempt, 32))
        return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not cryptography

    def gives_up(self, attempt: int) -> bool:
        return self.attempts is not None and attempt + 1 >= self.attempts


FOREVER = Backoff()


async def retrying(
    work: Callable[[], Awaitable[T]],
    what: str,
    backoff: Backoff = FOREVER,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``work()``, retried while it fails transiently and ``backoff`` allows; else it raises."""
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
            await sleep(pause)


def trainer_backoff(settings: Settings, *, bounded: bool = True) -> Backoff:
    """The trainer's pauses; ``bounded`` stops after ``TRAINER_RETRY_ATTEMPTS`` tries."""
    attempts = settings.trainer_retry_attempts if bounded else None
    return Backoff(settings.trainer_retry_base_s, settings.trainer_retry_cap_s, attempts)
