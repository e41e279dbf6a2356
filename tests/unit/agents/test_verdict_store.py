"""Storing a verdict: transient failures are waited out, a refused verdict is a dead letter."""

from __future__ import annotations

from typing import Any

from tests.support.agents import T0, MemoryOutbox
from tonebridge.agents.intake import Origin
from tonebridge.agents.verdict_store import (
    RETRY_CAP_S,
    backoff_s,
    finite_json,
    is_transient_store_error,
    store_verdict,
)
from tonebridge.errors import IntegrityError, StoreError, StoreUnavailableError
from tonebridge.topics.deadletter import DEADLETTER_TOPIC

ORIGIN = Origin("outcomes", 2, 41, b"ab-1")
VERDICT = {
    "event_id": "v-1", "event_time": T0, "test_id": "ab-1", "decision": "winner",
    "winner_arm": "treatment", "winner_model_id": "ab-1-new",
}  # fmt: skip


class DriverError(Exception):
    """Like asyncpg's errors: a SQLSTATE on the exception."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


class Wrapped(Exception):
    """Like SQLAlchemy's DBAPIError: the driver's error as ``orig``."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__(str(orig))
        self.orig = orig


def store_error(cause: BaseException) -> StoreError:
    try:
        message = f"database error: {cause}"
        raise StoreError(message) from cause
    except StoreError as exc:
        return exc


class FailingStore:
    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.stored: list[tuple[str, str | None, Any]] = []

    async def record(self, test_id: str, winner_model_id: str | None, results: Any) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.stored.append((test_id, winner_model_id, results))


def test_the_driver_error_decides_what_is_transient() -> None:
    assert is_transient_store_error(store_error(Wrapped(DriverError("08006"))))
    assert is_transient_store_error(store_error(Wrapped(DriverError("40001"))))
    assert is_transient_store_error(store_error(ConnectionRefusedError("refused")))
    assert is_transient_store_error(store_error(Wrapped(OSError("reset"))))
    assert is_transient_store_error(StoreError("pool exhausted"))
    assert is_transient_store_error(StoreUnavailableError("database unavailable"))
    assert not is_transient_store_error(store_error(Wrapped(DriverError("22P05"))))
    assert not is_transient_store_error(store_error(Wrapped(DriverError("54000"))))
    assert not is_transient_store_error(store_error(Wrapped(ValueError("bad json"))))
    assert not is_transient_store_error(IntegrityError("constraint violated"))
    assert not is_transient_store_error(TypeError("a bug"))


def test_the_backoff_grows_to_the_cap_with_full_jitter() -> None:
    assert all(0 <= backoff_s(0) <= 0.1 for _ in range(50))
    assert all(0 <= backoff_s(100) <= RETRY_CAP_S for _ in range(50))
    assert len({backoff_s(10) for _ in range(20)}) > 1


async def test_transient_failures_are_retried_until_the_store_takes_the_verdict() -> None:
    errors = [store_error(ConnectionRefusedError("refused")) for _ in range(12)]
    store, outbox, pauses = FailingStore(*errors), MemoryOutbox(), []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    await store_verdict(store, outbox, ORIGIN, VERDICT, {"p": 0.01}, sleep)
    assert store.stored == [("ab-1", "ab-1-new", {"p": 0.01})]
    assert len(pauses) == 12 and outbox.sent == []


async def test_a_refused_verdict_is_a_dead_letter_with_the_reason() -> None:
    refused = store_error(Wrapped(DriverError("22P05")))
    store, outbox = FailingStore(refused), MemoryOutbox()
    await store_verdict(store, outbox, ORIGIN, VERDICT, {}, sleep=_never)
    [letter] = outbox.on(DEADLETTER_TOPIC)
    assert store.stored == []
    assert letter["reason"].startswith("A/B test ab-1: the verdict store refused its verdict")
    assert "sqlstate 22P05" in letter["reason"] and letter["error_type"] == "StoreError"
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        "outcomes", 2, 41,
    )  # fmt: skip
    again = MemoryOutbox()
    await store_verdict(FailingStore(refused), again, ORIGIN, VERDICT, {}, sleep=_never)
    assert again.on(DEADLETTER_TOPIC)[0]["event_id"] == letter["event_id"]  # a replay repeats


async def test_non_finite_numbers_are_stored_as_null() -> None:
    store = FailingStore()
    results = {"p": float("nan"), "rows": [{"effect": float("inf")}, {"effect": 0.5}]}
    await store_verdict(store, MemoryOutbox(), ORIGIN, VERDICT, results, sleep=_never)
    assert store.stored[0][2] == {"p": None, "rows": [{"effect": None}, {"effect": 0.5}]}
    assert finite_json(("a", 1.0)) == ["a", 1.0]


async def _never(_: float) -> None:
    message = "no retry expected"
    raise AssertionError(message)
