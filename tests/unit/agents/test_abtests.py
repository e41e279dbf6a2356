"""The A/B agent's screening of a message: at once, as its items one by one would be."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.agents import T0, outcome, outcome_message
from tonebridge.agents.abtests import items_by_test, outcomes_millis, parts_by_test
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.messages import Origin
from tonebridge.topics.spec import partition_for

SKEW = timedelta(minutes=5)


def _moved(test_id: str) -> str:
    """A test id that routes to another partition than ``test_id``."""
    home = partition_for(test_id.encode(), 4)
    others = (f"ab-{i}" for i in range(99))
    return next(t for t in others if partition_for(t.encode(), 4) != home)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"ab_test_id": None},  # an outcome outside any test: valid, in no test
        {"request_id": "req\x00"},
        {"arm_id": "arm one"},
        {"ab_test_id": _moved("ab-1")},
        {"metrics": {"latency_ms": float("nan")}},
        {"event_time": T0 + timedelta(days=2)},
    ],
)
def test_a_message_of_outcomes_is_screened_as_its_items_one_by_one(change: dict[str, Any]) -> None:
    records = [outcome(n=n, metrics={"latency_ms": 10.0 + n}) for n in range(4)]
    records[2] = records[2] | change
    origin, value = outcome_message(records, offset=0)
    origin = Origin(origin.topic, origin.partition, 0, origin.key, _ms(T0 + timedelta(days=1)))
    items = INFERENCE_OUTCOMES_TOPIC.read(value).items
    grouped, bad = items_by_test(items, origin, 4, SKEW)
    alone: dict[str, list[int | None]] = {}
    alone_bad = []
    for item in items:
        one, one_bad = items_by_test([item], origin, 4, SKEW)
        for test_id, found in one.items():
            alone.setdefault(test_id, []).extend(i.index for i in found)
        alone_bad += [(r.index, r.reason()) for r in one_bad]
    assert {t: [i.index for i in found] for t, found in grouped.items()} == alone
    assert [(r.index, r.reason()) for r in bad] == alone_bad
    assert len(alone["ab-1"]) == (4 if not change else 3)


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"ab_test_id": None},
        {"request_id": "req\x00"},
        {"arm_id": "arm one"},
        {"ab_test_id": _moved("ab-1")},
        {"metrics": {"latency_ms": float("nan")}},
        {"event_time": T0 + timedelta(days=1, minutes=5, milliseconds=1)},  # just too late
        {"event_time": T0 + timedelta(days=1, minutes=5)},  # the latest allowed
        {"event_time": -1},  # before the epoch: valid, read as a datetime
        {"event_time": 2**62},  # no datetime holds it: a corrupt body
    ],
)
def test_the_millis_read_takes_outcomes_only_if_items_by_test_accepts_them_all(
    change: dict[str, Any],
) -> None:
    records = [outcome(n=n, metrics={"latency_ms": 10.0 + n}) for n in range(4)]
    records[2] = records[2] | change
    origin, value = outcome_message(records, offset=0)
    origin = Origin(origin.topic, origin.partition, 0, origin.key, _ms(T0 + timedelta(days=1)))
    intake = INFERENCE_OUTCOMES_TOPIC.read(value)
    grouped, bad = items_by_test(intake.items, origin, 4, SKEW)
    fast = outcomes_millis(value, origin, 4, SKEW)
    if bad or intake.rejects:
        assert fast is None
    common = change in ({}, {"ab_test_id": None}, {"event_time": T0 + timedelta(days=1, minutes=5)})
    assert (fast is not None) == common
    if fast is not None:
        wanted = {t: [i.index for i in items] for t, items in grouped.items()}
        assert {"ab-1": [i.index for i in fast if i.record["ab_test_id"]]} == wanted
        assert [i.record["event_time"] for i in fast] == [
            _ms(i.record["event_time"]) for i in intake.items
        ]


def test_parts_by_test_reads_a_message_of_outcomes_as_before() -> None:
    """The same items per test (times in epoch ms) and the same rejects."""
    records = [outcome(n=n) for n in range(3)]
    spoilt = [*records[:2], records[2] | {"event_time": 2**62}]
    batch = [outcome_message(records, offset=0), outcome_message(spoilt, offset=1)]
    parts, rejected = parts_by_test(batch, 4, SKEW)
    [(first, fast), (second, slow)] = parts["ab-1"]
    assert (first.offset, second.offset) == (0, 1)
    assert [i.record["event_time"] for i in fast] == [_ms(r["event_time"]) for r in records]
    assert [i.index for i in slow] == [0, 1]
    [(_, reject)] = rejected
    assert reject.index == 2 and "corrupt InferenceOutcome body" in reject.reason()


def test_a_repeated_outcome_is_taken_once_and_one_outside_any_test_never() -> None:
    from tonebridge.agents.runtime.dedup import Bounds, SeenIds

    records = [outcome(n=n) for n in range(3)]
    loose = outcome(None, n=9)  # outside any test: neither grouped nor deduplicated
    batch = [outcome_message(records, 0), outcome_message([records[1], records[2], loose], 1)]
    assert all(INFERENCE_OUTCOMES_TOPIC.read_millis(value) for _, value in batch)
    seen = SeenIds(lambda _: [], Bounds()).batch()
    parts, rejected = parts_by_test(batch, 4, SKEW, seen)
    assert [[i.index for i in items] for _, items in parts["ab-1"]] == [[0, 1, 2]]
    assert seen.duplicates == 2 and not rejected
