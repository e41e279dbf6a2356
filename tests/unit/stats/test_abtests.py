"""The A/B test state: arms fold, looks folded into running bounds, JSON."""

from __future__ import annotations

import json
import random

import pytest

from tonebridge.errors import InvalidEventError
from tonebridge.stats import abtests as abtest
from tonebridge.stats.abtests import ABState
from tonebridge.stats.arms import ArmObservation
from tonebridge.stats.spec import ABSpec, ArmSpec, MetricSpec

SPEC = ABSpec(
    "t",
    (ArmSpec("a", "m-a"), ArmSpec("b", "m-b")),
    (MetricSpec("success", "binary"), MetricSpec("latency", "continuous", False, True)),
    min_samples=20,
)


def stream(seed: int, n: int) -> list[tuple[str, ArmObservation]]:
    rng = random.Random(seed)
    return [
        (arm, ArmObservation({"success": rng.random() < (0.3 if arm == "b" else 0.2)},
                             {"latency": rng.gauss(100.0, 15.0)}))
        for arm in (rng.choice("ab") for _ in range(n))
    ]  # fmt: skip


def fold(events: list[tuple[str, ArmObservation]]) -> ABState:
    state = abtest.initial(SPEC)
    for arm, obs in events:
        state = abtest.add(state, arm, obs)
    return state


def test_unknown_arm_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEventError, match="'c'"):
        abtest.add(abtest.initial(SPEC), "c", ArmObservation())
    with pytest.raises(InvalidEventError):
        abtest.add_many(abtest.initial(SPEC), [("c", ArmObservation())])


def test_add_many_equals_add_and_chunks_merge() -> None:
    events = stream(1, 300)
    once = fold(events)
    assert abtest.add_many(abtest.initial(SPEC), events) == once
    merged = abtest.merge(fold(events[:120]), fold(events[120:]))
    assert merged.arms["a"].binary == once.arms["a"].binary
    latency, expected = merged.arms["b"].continuous["latency"], once.arms["b"].continuous["latency"]
    assert latency.mean == pytest.approx(expected.mean)
    assert latency.m2 == pytest.approx(expected.m2)


def test_no_bound_before_the_burn_in() -> None:
    state = abtest.checkpoint(SPEC, fold(stream(2, 30)))  # fewer than 20 in some arm
    assert state.looks == 1
    assert state.bounds == {} or all(
        b.looks == 0 for per_metric in state.bounds.values() for b in per_metric.values()
    )


def test_running_p_value_never_increases() -> None:
    events, state, previous = stream(3, 2000), abtest.initial(SPEC), 1.0
    for start in range(0, len(events), 100):
        state = abtest.checkpoint(SPEC, abtest.add_many(state, events[start : start + 100]))
        bound = state.bounds["b"]["success"]
        assert bound.p_value <= previous
        previous = bound.p_value
    assert state.bounds["b"]["success"].looks == 20
    assert previous < 0.05  # 0.2 against 0.3 over 2000 events is found


def test_json_round_trip_of_a_looked_at_state() -> None:
    state = abtest.checkpoint(SPEC, fold(stream(4, 200)))
    assert ABState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
