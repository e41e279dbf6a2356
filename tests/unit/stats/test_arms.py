"""One arm's fold: observations from InferenceOutcome records, fold laws, JSON."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from tonebridge.stats import arms
from tonebridge.stats.arms import ArmObservation, ArmState, observation_from_outcome
from tonebridge.stats.spec import MetricSpec

METRICS = (
    MetricSpec("success", "binary"),
    MetricSpec("thumbs_up", "binary"),
    MetricSpec("latency_ms", "continuous", higher_is_better=False),
)
observations = st.builds(
    ArmObservation,
    st.dictionaries(st.sampled_from(["success", "thumbs_up"]), st.booleans()),
    st.dictionaries(
        st.sampled_from(["latency_ms", "rating"]),
        st.floats(min_value=-1e3, max_value=1e3, allow_nan=False),
    ),
    covariate=st.none(),  # as before: builds() fills a NamedTuple's defaulted fields too
)


def fold(items: list[ArmObservation]) -> ArmState:
    state = arms.initial()
    for item in items:
        state = arms.add(state, item)
    return state


def test_observation_from_an_outcome_record() -> None:
    record = {
        "success": False,
        "metrics": {"thumbs_up": 1.0, "latency_ms": 12.5, "unused": 3.0},
    }
    obs = observation_from_outcome(record, METRICS)
    assert obs.binary == {"success": False, "thumbs_up": True}
    assert obs.continuous == {"latency_ms": 12.5}


def test_missing_and_non_finite_values_are_skipped() -> None:
    obs = observation_from_outcome({"success": None, "metrics": {"latency_ms": math.nan}}, METRICS)
    assert (obs.binary, obs.continuous) == ({}, {})
    state = arms.add(arms.initial(), obs)
    assert (state.assigned, state.binary, state.continuous) == (1, {}, {})


@given(st.lists(observations, max_size=30))
def test_add_many_equals_add(items: list[ArmObservation]) -> None:
    assert arms.add_many(arms.initial(), items) == fold(items)


@given(st.lists(st.lists(observations, max_size=8), max_size=5))
def test_chunks_merged_equal_one_fold(chunks: list[list[ArmObservation]]) -> None:
    merged = arms.initial()
    for chunk in chunks:
        merged = arms.merge(merged, fold(chunk))
    once = fold([o for chunk in chunks for o in chunk])
    assert (merged.assigned, merged.binary) == (once.assigned, once.binary)
    assert merged.continuous.keys() == once.continuous.keys()
    for name, m in merged.continuous.items():
        assert m.n == once.continuous[name].n
        assert math.isclose(m.mean, once.continuous[name].mean, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(m.m2, once.continuous[name].m2, rel_tol=1e-7, abs_tol=1e-6)


@given(st.lists(observations, max_size=10))
def test_json_round_trip(items: list[ArmObservation]) -> None:
    state = fold(items)
    assert ArmState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


SUCCESS_ONLY = (MetricSpec("success", "binary"),)


@given(
    before=st.lists(observations, max_size=5),
    successes=st.lists(st.sampled_from([None, True, False]), max_size=30),
)
def test_add_successes_equals_add_many_of_the_observations(
    before: list[ArmObservation], successes: list[bool | None]
) -> None:
    state = arms.add_many(ArmState(), before)  # any earlier state, other metrics too
    outcomes = [{"success": s, "metrics": {"latency_ms": 1.0}} for s in successes]
    folded = arms.add_many(state, [observation_from_outcome(r, SUCCESS_ONLY) for r in outcomes])
    counted = arms.add_successes(state, successes)
    assert counted == folded
    assert list(counted.binary) == list(folded.binary)  # the same order of metrics
    assert json.dumps(counted.to_dict()) == json.dumps(folded.to_dict())
