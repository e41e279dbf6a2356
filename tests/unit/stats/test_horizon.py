"""The horizon-aware test: its boundary against independent computations, its look, its spec."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from scipy import stats as sps

from tonebridge.errors import InvalidEventError
from tonebridge.stats import abtests as abtest
from tonebridge.stats.arms import ArmObservation
from tonebridge.stats.horizon import (
    HORIZON_SHARE,
    SLOPE_RATIO,
    boundary,
    crossing,
    horizon_counts,
    horizon_sprt,
    information_time,
    line_p_value,
)
from tonebridge.stats.sequential import Inputs, mixture_sprt
from tonebridge.stats.spec import ABSpec, ArmSpec


def bridge_crossing(a: float, b: float) -> float:
    """P(W crosses a + b t on [0, 1]) by integrating over W(1) = x: above the line at t = 1,
    or below it with the Brownian bridge's crossing probability exp(-2 a (a + b - x))."""
    end = a + b
    below, _ = integrate.quad(
        lambda x: sps.norm.pdf(x) * math.exp(-2.0 * a * (end - x)), -12.0, end, limit=200
    )
    return float(sps.norm.sf(end)) + below


@pytest.mark.parametrize(("a", "b"), [(1.155, 1.502), (2.0, 0.0), (0.5, 3.0), (3.0, 0.2)])
def test_closed_form_matches_the_bridge_integral(a: float, b: float) -> None:
    assert crossing(a, b) == pytest.approx(bridge_crossing(a, b), rel=1e-8, abs=1e-12)


def test_a_flat_line_is_the_reflection_principle() -> None:
    # P(max of W on [0, 1] >= a) = 2 P(W(1) >= a)
    assert crossing(2.24, 0.0) == pytest.approx(2.0 * sps.norm.sf(2.24), rel=1e-12)


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.1])
def test_the_boundary_spends_alpha_on_both_sides(alpha: float) -> None:
    a, b = boundary(alpha)
    assert b == pytest.approx(SLOPE_RATIO * a)
    assert 2.0 * bridge_crossing(a, b) == pytest.approx(alpha, rel=1e-7)
    # looked at once at the horizon it is stricter than the fixed-horizon test
    assert a + b > sps.norm.isf(alpha / 2)


def test_the_p_value_on_the_boundary_is_alpha_and_falls_beyond_it() -> None:
    alpha = 0.05
    a, b = boundary(alpha)
    for t in (0.1, 0.5, 1.0):
        assert line_p_value(a + b * t, t, b) == pytest.approx(alpha, rel=1e-9)
        assert line_p_value(-(a + b * t), t, b) == pytest.approx(alpha, rel=1e-9)
        assert line_p_value(a + b * t + 0.1, t, b) < alpha < line_p_value(a + b * t - 0.1, t, b)
    assert line_p_value(10.0, 1.01, b) == 1.0  # past the horizon the line does not apply


@given(st.floats(-5, 5), st.floats(0.01, 1.0), st.integers(10, 5000), st.integers(10, 5000))
def test_the_p_value_and_the_interval_agree(effect: float, v: float, n: int, h: int) -> None:
    x = Inputs(effect, v, v, n, n)
    result = horizon_sprt(x, (float(h), float(h)), 0.05, 0.1)
    assert result is not None and result.test == "horizon"
    inside = result.ci_low < 0.0 < result.ci_high
    assert inside == (result.p_value >= 0.05) or math.isclose(result.p_value, 0.05, rel_tol=1e-6)


def test_information_time_is_the_share_of_the_horizon() -> None:
    assert information_time(Inputs(0.0, 2.0, 3.0, 250, 250), (1000.0, 1000.0)) == 0.25
    unbalanced = information_time(Inputs(0.0, 1.0, 1.0, 400, 100), (400.0, 100.0))
    assert unbalanced == pytest.approx(1.0)
    assert horizon_counts({"a": 4.0, "b": 1.0, "c": 2.0}, 100) == {"a": 400, "b": 100, "c": 200}


def test_past_the_horizon_the_msprt_share_decides() -> None:
    x = Inputs(0.05, 0.25, 0.25, 20_000, 20_000)  # t = 20
    result = horizon_sprt(x, (1000.0, 1000.0), 0.05, 0.1)
    msprt = mixture_sprt(x.effect, x.variance, x.tau2(0.1), (1 - HORIZON_SHARE) * 0.05)
    assert result is not None
    assert result.p_value == pytest.approx(min(1.0, msprt.p_value / (1 - HORIZON_SHARE)))
    assert (result.ci_low, result.ci_high) == (msprt.ci_low, msprt.ci_high)


def test_a_spec_with_a_horizon_uses_it_and_says_so() -> None:
    arms = (ArmSpec("a", "m1"), ArmSpec("b", "m2"))
    plain = ABSpec("t", arms, min_samples=10)
    planned = ABSpec("t", arms, min_samples=10, expected_samples=200)
    capped = ABSpec("t", arms, min_samples=10, max_samples=100, expected_samples=200)
    assert (plain.horizon, planned.horizon, capped.horizon) == (None, 200, 100)
    state = abtest.initial(plain)
    for i in range(60):
        state = abtest.add(state, "ab"[i % 2], ArmObservation({"success": i % 3 == 0}))
    tests = {
        spec.horizon: abtest.look(spec, state).comparisons[0].sequential
        for spec in (plain, planned)
    }
    assert tests[None] is not None and tests[None].test == "msprt"
    assert tests[200] is not None and tests[200].test == "horizon"


def test_expected_samples_round_trips_and_is_checked() -> None:
    spec = ABSpec("t", (ArmSpec("a", "m1"), ArmSpec("b", "m2")), expected_samples=5000)
    assert ABSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InvalidEventError, match="expected_samples"):
        ABSpec("t", (ArmSpec("a", "m1"), ArmSpec("b", "m2")), expected_samples=1)
