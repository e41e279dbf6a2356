"""Hostile feedback through both doors: the HTTP API (a 422 naming the field) and raw Kafka,
bypassing the API (a dead letter with the reason). Good traffic follows every bad input, and
must be stored and counted exactly, with the worker still running. On PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.agents.conftest import eventually
from tests.integration.api.helpers import ADMIN, INGEST
from tests.integration.hostile.conftest import Stack, now_iso
from tests.support.agents import encoded, feedback
from tonebridge.topics.feedback import FEEDBACK_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Change = dict[str, Any]
NUL = "a\u0000b"
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)

# (what is wrong, the field the error must name, the change to a good event)
BAD_INPUTS: list[tuple[str, str, Change]] = [
    ("NUL in user_id", "user_id", {"user_id": NUL}),
    ("NUL in input_text", "input_text", {"input_text": f"send {NUL}"}),
    ("NUL in corrected_text", "corrected_text", {"corrected_text": NUL}),
    ("NUL in transformation_type", "transformation_type", {"transformation_type": NUL}),
    ("NUL in a metadata value", "metadata", {"metadata": {"app": NUL}}),
    ("user_id over 255", "user_id", {"user_id": "u" * 256}),
    ("session_id over 255", "session_id", {"session_id": "s" * 256}),
    ("transformation_type over 64", "transformation_type", {"transformation_type": "t" * 65}),
    ("model_id over 64", "model_id", {"model_id": "m" * 65}),
    ("model_id not an id", "model_id", {"model_id": "model a; drop"}),
    ("event_id not an id", "event_id", {"event_id": "not an id"}),
    ("event_time in 9999", "event_time", {"event_time": FAR_FUTURE}),
    ("event_time an hour ahead", "event_time", {"event_time": timedelta(hours=1)}),
]


def api_event(stack: Stack, n: int, change: Change | None = None) -> dict[str, Any]:
    event = stack.event(n)
    for field, value in (change or {}).items():
        event[field] = _as_json(value)
    return event


def _as_json(value: Any) -> Any:
    if isinstance(value, timedelta):
        return now_iso(value)
    return value.isoformat() if isinstance(value, datetime) else value


def kafka_event(stack: Stack, n: int, change: Change | None = None) -> dict[str, Any]:
    record = feedback(stack.model_id, n=n)
    for field, value in (change or {}).items():
        at = datetime.now(UTC) + value if isinstance(value, timedelta) else value
        record[field] = at if field == "event_time" else value
    return record


async def post(stack: Stack, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await stack.api.post("/feedback", json=body, headers=INGEST)
    return response.status_code, response.json()


async def send_raw(stack: Stack, record: dict[str, Any]) -> bytes:
    """One message as another producer would send it: to the model's partition, no checks."""
    _, value = encoded(FEEDBACK_TOPIC, [record])
    await stack.streams.produce_raw(FEEDBACK_TOPIC, stack.model_id.encode(), value)
    return value


def reasons_by_payload(letters: list[dict[str, Any]]) -> dict[bytes, list[str]]:
    found: dict[bytes, list[str]] = {}
    for letter in letters:
        found.setdefault(letter["payload"], []).append(letter["reason"])
    return found


async def test_every_bad_feedback_is_refused_at_both_doors_and_good_traffic_goes_on(
    stack: Stack,
) -> None:
    good = 0
    for n, (what, field, change) in enumerate(BAD_INPUTS):
        status, body = await post(stack, api_event(stack, n, change))
        assert status == 422, what
        assert field in body["message"], (what, body["message"])
        assert (await post(stack, api_event(stack, 1000 + n)))[0] == 202
        good += 1
    payloads: dict[bytes, tuple[str, str]] = {}
    for n, (what, field, change) in enumerate(BAD_INPUTS):
        payloads[await send_raw(stack, kafka_event(stack, 2000 + n, change))] = (what, field)
        await send_raw(stack, kafka_event(stack, 3000 + n))
        good += 1

    await stack.settled(counted=good, stored=good)
    found = reasons_by_payload(await stack.dead_letters(at_least=len(payloads)))
    for payload, (what, field) in payloads.items():
        assert len(found.get(payload, [])) == 1, what
        assert field in found[payload][0], (what, found[payload])
    assert stack.worker_alive()


async def test_reproduction_1_a_nul_in_user_id_stops_nothing(stack: Stack) -> None:
    """One `POST /feedback` with a NUL character (`"user_id": "a\\u0000b"`), sent with an
    **ingest** key, answers 202. The feedback sink's insert fails ("invalid byte sequence for
    encoding UTF8: 0x00"), the worker exits, and every restart dies on the same record. No
    feedback behind it is ever stored, and stats, A/B tests and promotion stop for every model.
    """
    status, body = await post(stack, api_event(stack, 0, {"user_id": NUL}))
    assert status == 422 and "user_id" in body["message"]
    payload = await send_raw(stack, kafka_event(stack, 1, {"user_id": NUL}))
    for n in range(2, 22):
        assert (await post(stack, api_event(stack, n)))[0] == 202

    await stack.settled(counted=20, stored=20)
    [reason] = reasons_by_payload(await stack.dead_letters(at_least=1))[payload]
    assert "user_id contains a NUL character" in reason
    assert stack.worker_alive()


async def test_reproduction_4_a_far_future_event_moves_no_window(stack: Stack) -> None:
    """One feedback event dated `9999-12-31` moves that model's windows into the future. The
    50 real events sent after it never show in `last_hour`, and window policies go silent for
    the model."""
    far = {"event_time": FAR_FUTURE}
    status, body = await post(stack, api_event(stack, 0, far))
    assert status == 422 and "event_time" in body["message"]
    payload = await send_raw(stack, kafka_event(stack, 1, far))
    batch = {"events": [api_event(stack, n) for n in range(2, 52)]}
    assert (await post(stack, batch))[0] == 202

    await stack.settled(counted=50, stored=50)
    [reason] = reasons_by_payload(await stack.dead_letters(at_least=1))[payload]
    assert "in the future" in reason
    stats = await stack.api.get(
        "/feedback/stats", params={"model_id": stack.model_id, "fresh": True}, headers=ADMIN
    )
    overall = stats.json()["models"][stack.model_id]["overall"]
    assert overall["last_hour"]["count"] == 50 + 1  # and the last event of settled()


async def test_reproduction_5_many_transformation_types_keep_the_value_small(
    stack: Stack,
) -> None:
    """3,000 distinct `transformation_type` values turn one model's stats value into 1.6 MB.
    That one table value is rewritten on every event, and a real Kafka refuses records over
    1 MiB by default."""
    kinds = [f"tone-{n}" for n in range(3000)]
    for start in range(0, 3000, 1000):
        chunk = range(start, start + 1000)
        events = [api_event(stack, n, {"transformation_type": kinds[n]}) for n in chunk]
        assert (await post(stack, {"events": events}))[0] == 202

    await eventually(lambda: stack.counted() == 3000, lambda: f"count {stack.counted()}")
    state = stack.streams.feedback.get(stack.model_id)
    assert state is not None
    cap = stack.streams.settings.feedback_max_transformation_types
    assert len(state.by_type) == cap + 1
    assert set(kinds[:cap]) < set(state.by_type)
    assert state.by_type["other"].all_time.count == 3000 - cap
    assert len(state.to_json()) < 100_000  # was 1.6 MB; a real Kafka's default limit is 1 MiB


async def test_reproduction_3_a_retried_event_is_counted_once(stack: Stack) -> None:
    """The same `event_id` sent 20 times (a client retrying after a timeout) is 1 row in the
    database but 20 in `/feedback/stats`. The API tells clients that consumers deduplicate on
    `event_id`; the statistics that fire retraining and decide A/B tests do not."""
    retried = api_event(stack, 0)
    for _ in range(20):
        assert (await post(stack, retried))[0] == 202
    others = {"events": [api_event(stack, n) for n in range(1, 11)]}
    assert (await post(stack, others))[0] == 202
    assert (await post(stack, retried))[0] == 202  # a late retry, after other traffic

    await stack.settled(counted=11, stored=11)
    stats = await stack.api.get(
        "/feedback/stats", params={"model_id": stack.model_id, "fresh": True}, headers=ADMIN
    )
    assert stats.json()["models"][stack.model_id]["overall"]["all_time"]["count"] == 11 + 1
