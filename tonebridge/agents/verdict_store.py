"""Storing a decided test's result in ``ab_tests``, as the A/B agent does it.

The verdict topic is the record of truth; the row is the API's copy. So a verdict the
database refuses for good (a constraint, an encoding, a size: SQLSTATE classes 22, 23, 54, or
a value the driver cannot send) becomes a dead letter with the reason, and the batch goes on:
one record can never stop the worker. A database that is away (connection refused, a timeout,
a raw OSError from the driver) or not ready is waited for, with exponential backoff and full
jitter, for as long as it stays so.

The storage layer sorts the driver's errors into transient and permanent ones
(:mod:`tonebridge.storage.db`); :mod:`tonebridge.retry` retries the transient ones.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, Protocol

from tonebridge.client.publisher import Publisher
from tonebridge.decisions.abtest_state import effect_id
from tonebridge.retry import retrying
from tonebridge.topics.abtests import ABTEST_VERDICTS_TOPIC
from tonebridge.topics.deadletter import DEADLETTER_TOPIC, dead_letter
from tonebridge.topics.messages import Origin

log = logging.getLogger(__name__)


class VerdictStore(Protocol):
    async def record(self, test_id: str, winner_model_id: str | None, results: Any) -> None:
        """End the test in the database with its results (idempotent)."""


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinity (JSON has none; PostgreSQL refuses them) None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(item) for item in value]
    return value


async def store_verdict(
    store: VerdictStore,
    outbox: Publisher,
    origin: Origin,
    verdict: Mapping[str, Any],
    results: Any,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Record ``verdict`` in ``store``: retried while transient, a dead letter if refused."""
    test_id = str(verdict["test_id"])
    winner = verdict.get("winner_model_id") if verdict["decision"] == "winner" else None
    record = partial(store.record, test_id, winner, finite_json(results))
    try:
        await retrying(record, f"A/B test {test_id}: storing the verdict", sleep=sleep)
    except Exception as exc:  # noqa: BLE001 - permanent (transient ones are retried): a dead letter
        await outbox.publish(DEADLETTER_TOPIC, refused_verdict(origin, verdict, exc))
        log.error("A/B test %s: the verdict store refused the verdict: %r", test_id, exc)


def refused_verdict(
    origin: Origin, verdict: Mapping[str, Any], error: BaseException
) -> dict[str, Any]:
    """The DeadLetter of a verdict the store refused: the verdict's bytes, from the message
    that decided the test, with an id of its own (a replay repeats it)."""
    payload = ABTEST_VERDICTS_TOPIC.encode(verdict).value
    test_id = str(verdict["test_id"])
    return dead_letter(
        origin.topic, origin.partition, origin.offset, origin.key, payload, error,
        reason=f"A/B test {test_id}: the verdict store refused its verdict: {error}",
        event_id=effect_id(test_id, "verdict refused"),
    )  # fmt: skip
