"""Decisions on constructed A/B states, and their ABTestVerdict fields."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tonebridge.avro import codec
from tonebridge.stats import abtests as abtest
from tonebridge.stats.abtests import ABState
from tonebridge.stats.arms import ArmObservation, ArmState
from tonebridge.stats.decide import decide, evaluate
from tonebridge.stats.moments import Moments
from tonebridge.stats.proportion import Proportion
from tonebridge.stats.sequential import RunningBound
from tonebridge.stats.spec import ABSpec, ArmSpec, MetricSpec

SUCCESS = MetricSpec("success", "binary")
LATENCY = MetricSpec("latency", "continuous", higher_is_better=False, guardrail=True)
SPEC = ABSpec("t-9", (ArmSpec("a", "m-a"), ArmSpec("b", "m-b")), (SUCCESS, LATENCY))


def arm(n: int, successes: int, latency: float = 100.0, sd: float = 20.0) -> ArmState:
    return ArmState(
        n,
        {"success": Proportion(successes, n)},
        {"latency": Moments(n, latency, sd * sd * (n - 1))},
    )


def state(**arms: ArmState) -> ABState:
    return ABState(arms)


def test_continue_before_min_samples() -> None:
    decision = decide(SPEC, state(a=arm(99, 10), b=arm(99, 60)))
    assert (decision.kind, decision.is_final) == ("continue", False)
    with pytest.raises(ValueError, match="no verdict"):
        decision.verdict_fields()


def test_treatment_wins() -> None:
    decision = decide(SPEC, state(a=arm(2000, 200), b=arm(2000, 300)))
    assert (decision.kind, decision.arm, decision.model_id, decision.metric) == (
        "winner",
        "b",
        "m-b",
        "success",
    )
    assert decision.effect == pytest.approx(0.05)
    assert decision.ci_low is not None and decision.ci_high is not None
    assert 0.0 < decision.ci_low < 0.05 < decision.ci_high
    assert decision.p_values["b/success"] < 0.05
    assert decision.samples == {"a": 2000, "b": 2000}


def test_control_wins_when_the_treatment_is_worse() -> None:
    decision = decide(SPEC, state(a=arm(2000, 300), b=arm(2000, 200)))
    assert (decision.kind, decision.arm, decision.model_id) == ("winner", "a", "m-a")
    assert decision.effect == pytest.approx(-0.05)


def test_guardrail_violation_beats_a_better_primary_metric() -> None:
    decision = decide(SPEC, state(a=arm(2000, 200, latency=100.0), b=arm(2000, 300, latency=110.0)))
    assert (decision.kind, decision.arm, decision.metric) == ("guardrail_violation", "a", "latency")
    assert decision.effect == pytest.approx(10.0)
    assert "b is worse on latency" in decision.reason


def test_a_better_guardrail_is_no_violation() -> None:
    decision = decide(SPEC, state(a=arm(2000, 200, latency=110.0), b=arm(2000, 200, latency=100.0)))
    assert decision.kind == "continue"


def test_sample_ratio_mismatch_comes_first() -> None:
    skewed = state(a=arm(2000, 200), b=arm(2400, 360))
    assert decide(SPEC, skewed).kind == "sample_ratio_mismatch"
    weighted = replace(SPEC, arms=(ArmSpec("a", "m-a", 1.0), ArmSpec("b", "m-b", 1.2)))
    assert decide(weighted, skewed).kind == "winner"


def test_no_difference_at_max_samples_or_inside_the_margin() -> None:
    same = state(a=arm(5000, 1000), b=arm(5000, 1010))
    assert decide(SPEC, same).kind == "continue"
    assert decide(replace(SPEC, max_samples=5000), same).kind == "no_difference"
    margin = replace(SPEC, metrics=(replace(SUCCESS, equivalence_margin=0.05), LATENCY))
    assert decide(margin, same).kind == "no_difference"
    tight = replace(SPEC, metrics=(replace(SUCCESS, equivalence_margin=0.001), LATENCY))
    assert decide(tight, same).kind == "continue"


def test_running_minimum_keeps_an_earlier_significant_look() -> None:
    now_null = state(a=arm(3000, 300), b=arm(3000, 310))
    earlier = {"b": {"success": RunningBound(5, 0.001, 0.01, 0.09)}}
    decision = decide(SPEC, replace(now_null, bounds=earlier))
    assert (decision.kind, decision.arm) == ("winner", "b")
    assert decision.p_values["b/success"] == pytest.approx(0.001 * 1)  # Holm over one primary


def test_holm_and_bh_differ_as_they_should() -> None:
    two = replace(SPEC, metrics=(SUCCESS, MetricSpec("rating", "continuous")))
    base = state(a=arm(3000, 300), b=arm(3000, 300))
    bounds = {
        "b": {
            "success": RunningBound(1, 0.04, 0.001, 0.02),
            "rating": RunningBound(1, 0.045, 0.01, 0.3),
        }
    }
    looked = replace(base, bounds=bounds)
    assert decide(two, looked).kind == "continue"  # Holm: 0.08 and 0.08
    bh = decide(replace(two, correction="bh"), looked)
    assert (bh.kind, bh.arm) == ("winner", "b")


def test_one_of_three_arms_wins() -> None:
    three = replace(SPEC, arms=(*SPEC.arms, ArmSpec("c", "m-c")))
    decision = decide(three, state(a=arm(3000, 300), b=arm(3000, 305), c=arm(3000, 420)))
    assert (decision.kind, decision.arm) == ("winner", "c")
    assert set(decision.p_values) == {"b/success", "b/latency", "c/success", "c/latency", "srm"}


def test_verdict_fields_encode_as_an_ab_test_verdict() -> None:
    decision = decide(SPEC, state(a=arm(2000, 200), b=arm(2000, 300)))
    record = {
        "event_id": "v1",
        "event_time": datetime(2026, 3, 1, tzinfo=UTC),
    } | decision.verdict_fields()
    decoded = codec.decode(codec.encode("ABTestVerdict", record), expect="ABTestVerdict").record
    assert decoded["decision"] == "winner"
    assert decoded["winner_model_id"] == "m-b"
    assert decoded["samples"] == {"a": 2000, "b": 2000}
    results = json.loads(decoded["results_json"])
    assert {row["metric"] for row in results["rows"]} == {"success", "latency"}
    assert results["srm"]["chi2_p_value"] == pytest.approx(1.0)


def test_a_streamed_a_b_test_is_decided_once_enough_is_seen() -> None:
    rng, st = random.Random(5), abtest.initial(SPEC)
    for _ in range(20_000):
        name = rng.choice("ab")
        obs = ArmObservation(
            {"success": rng.random() < (0.15 if name == "b" else 0.10)},
            {"latency": rng.gauss(100, 10)},
        )
        st, decision = evaluate(SPEC, abtest.add(st, name, obs))
        if decision.is_final:
            break
    assert (decision.kind, decision.arm, decision.metric) == ("winner", "b", "success")
    assert min(decision.samples.values()) >= SPEC.min_samples
    assert sum(decision.samples.values()) < 10_000


def test_the_decision_names_its_test_and_a_horizon_decides_sooner() -> None:
    # 0.10 -> 0.122 with 3,000 per arm (z = 2.72): past the horizon-aware boundary (2.66 at
    # the horizon), short of the mSPRT's (3.06)
    arms_now = state(a=arm(3000, 300), b=arm(3000, 366))
    plain = decide(SPEC, arms_now)
    planned = decide(replace(SPEC, expected_samples=3000), arms_now)
    assert plain.kind == "continue" and {r.test for r in plain.rows} == {"msprt"}
    assert (planned.kind, planned.arm, planned.test) == ("winner", "b", "horizon")
    assert planned.verdict_fields()["reason"] == "b wins on success (horizon test)"
    assert json.loads(planned.verdict_fields()["results_json"])["test"] == "horizon"
    assert planned.ci_low is not None and planned.ci_high is not None
    assert planned.ci_low < planned.effect < planned.ci_high  # type: ignore[operator]
