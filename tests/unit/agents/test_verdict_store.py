"""Storing a verdict: transient failures are waited out, a refused verdict is a dead letter."""

from __future__ import annotations

from typing import Any

from tests.support.agents import T0, MemoryOutbox
from tonebridge.agents.verdict_store import finite_json, store_verdict
from tonebridge.errors import DataRefusedError, StoreUnavailableError
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.messages import Origin

ORIGIN = Origin("outcomes", 2, 41, b"ab-1")
VERDICT = {
    "event_id": "v-1", "event_time": T0, "test_id": "ab-1", "decision": "winner",
    "winner_arm": "treatment", "winner_model_id": "ab-1-new",
}  # fmt: skip


class FailingStore:
    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.stored: list[tuple[str, str | None, Any]] = []

    async def record(self, test_id: str, winner_model_id: str | None, results: Any) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.stored.append((test_id, winner_model_id, results))


async def test_transient_failures_are_retried_until_the_store_takes_the_verdict() -> None:
    errors = [StoreUnavailableError("database unavailable: refused") for _ in range(12)]
    store, outbox, pauses = FailingStore(*errors), MemoryOutbox(), []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    await store_verdict(store, outbox, ORIGIN, VERDICT, {"p": 0.01}, sleep)
    assert store.stored == [("ab-1", "ab-1-new", {"p": 0.01})]
    assert len(pauses) == 12 and outbox.sent == []


async def test_a_refused_verdict_is_a_dead_letter_with_the_reason() -> None:
    refused = DataRefusedError("the database refused the data: sqlstate 22P05")
    store, outbox = FailingStore(refused), MemoryOutbox()
    await store_verdict(store, outbox, ORIGIN, VERDICT, {}, sleep=_never)
    [letter] = outbox.on(DEADLETTER_TOPIC)
    assert store.stored == []
    assert letter["reason"].startswith("A/B test ab-1: the verdict store refused its verdict")
    assert "sqlstate 22P05" in letter["reason"] and letter["error_type"] == "DataRefusedError"
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
