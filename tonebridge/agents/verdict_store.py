"""Storing a decided test's result in ``ab_tests``, as the A/B agent does it.

The verdict topic is the record of truth; the row is the API's copy. So a verdict the
database refuses for good (a constraint, an encoding, a size: SQLSTATE classes 22, 23, 42,
54, ...) becomes a dead letter with the reason, and the batch goes on: one record can never
stop the worker. A database that is away (connection refused, a timeout, a raw OSError from
the driver, SQLSTATE classes 08, 40, 53, 57, 58) is waited for, with exponential backoff and
full jitter, for as long as it stays away.

The storage layer reports every driver error as a retryable ``StoreError``; the driver's own
error, further down the chain, tells which kind it is.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Protocol

from tonebridge.agents.ab_state import effect_id
from tonebridge.agents.intake import Origin
from tonebridge.agents.outbox import Outbox
from tonebridge.agents.runner import is_transient
from tonebridge.errors import StoreUnavailableError
from tonebridge.topics.abtest import ABTEST_VERDICTS_TOPIC
from tonebridge.topics.deadletter import DEADLETTER_TOPIC, MAX_REASON_CHARS, dead_letter

log = logging.getLogger(__name__)

RETRY_BASE_S = 0.1  # first pause before storing a verdict again
RETRY_CAP_S = 30.0  # longest pause; retries go on while the failure is transient
TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "58")
_DISCONNECTS = ("OperationalError", "InterfaceError")  # sqlite3's and SQLAlchemy's


class VerdictStore(Protocol):
    async def record(self, test_id: str, winner_model_id: str | None, results: Any) -> None:
        """End the test in the database with its results (idempotent)."""


def is_transient_store_error(error: BaseException) -> bool:
    """Whether storing the same verdict again may succeed."""
    if isinstance(error, StoreUnavailableError):
        return True
    for link in _chain(error):
        sqlstate = getattr(link, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate:
            return sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES
        if isinstance(link, OSError | TimeoutError) or getattr(
            link, "connection_invalidated", False
        ):
            return True
    if any(type(link).__name__ in _DISCONNECTS for link in _chain(error)):
        return True
    has_driver_error = any(hasattr(link, "orig") for link in _chain(error))
    return not has_driver_error and is_transient(error)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, its causes and the driver errors SQLAlchemy wraps, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        link = pending.pop(0)
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        orig = getattr(link, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, link.__cause__]
        pending.append(link.__context__)


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinity (JSON has none; PostgreSQL refuses them) None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(item) for item in value]
    return value


def backoff_s(attempt: int) -> float:
    """Full jitter: a pause drawn from [0, min(cap, base * 2**attempt)]."""
    ceiling = min(RETRY_CAP_S, RETRY_BASE_S * 2 ** min(attempt, 30))
    return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not cryptography


async def store_verdict(
    store: VerdictStore,
    outbox: Outbox,
    origin: Origin,
    verdict: Mapping[str, Any],
    results: Any,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Record ``verdict`` in ``store``: retried while transient, a dead letter if refused."""
    test_id = str(verdict["test_id"])
    winner = verdict.get("winner_model_id") if verdict["decision"] == "winner" else None
    attempt = 0
    while True:
        try:
            await store.record(test_id, winner, finite_json(results))
            return
        except Exception as exc:  # noqa: BLE001 - classified: retried, or a dead letter
            if not is_transient_store_error(exc):
                await outbox.send(DEADLETTER_TOPIC, refused_verdict(origin, verdict, exc))
                log.error("A/B test %s: the verdict store refused the verdict: %r", test_id, exc)
                return
            delay = backoff_s(attempt)
            log.warning("A/B test %s: storing the verdict again in %.1fs: %r", test_id, delay, exc)
            await sleep(delay)
            attempt += 1


def refused_verdict(
    origin: Origin, verdict: Mapping[str, Any], error: BaseException
) -> dict[str, Any]:
    """The DeadLetter of a verdict the store refused: the verdict's bytes, from the message
    that decided the test, with an id of its own (a replay repeats it)."""
    payload = ABTEST_VERDICTS_TOPIC.encode(verdict).value
    record = dead_letter(origin.topic, origin.partition, origin.offset, origin.key, payload, error)
    reason = f"A/B test {verdict['test_id']}: the verdict store refused its verdict: {error}"
    record["event_id"] = effect_id(str(verdict["test_id"]), "verdict refused")
    record["reason"] = reason[:MAX_REASON_CHARS]
    return record
