"""The normal-mixture SPRT: formula, confidence-sequence inversion and running bounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from scipy import stats as sps

from tonebridge.stats import moments
from tonebridge.stats.moments import Moments
from tonebridge.stats.proportion import Proportion
from tonebridge.stats.sequential import (
    RunningBound,
    SequentialResult,
    bound_add,
    bound_initial,
    bound_interval,
    bound_merge,
    mixture_sprt,
    sequential_binary,
    sequential_continuous,
)

effects = st.floats(min_value=-5.0, max_value=5.0)
variances = st.floats(min_value=1e-3, max_value=10.0)
alphas = st.floats(min_value=0.001, max_value=0.3)


def integrated_lr(effect: float, variance: float, tau2: float) -> float:
    """The mixture likelihood ratio by numerical integration over the effect."""
    sd, tau = math.sqrt(variance), math.sqrt(tau2)

    def integrand(theta: float) -> float:
        return float(sps.norm.pdf(effect, theta, sd) * sps.norm.pdf(theta, 0.0, tau))

    value, _ = integrate.quad(integrand, -12 * tau, 12 * tau, points=[effect], limit=200)
    return value / float(sps.norm.pdf(effect, 0.0, sd))


@pytest.mark.parametrize(
    ("effect", "variance", "tau2"), [(0.3, 0.01, 0.04), (-0.05, 0.002, 0.01), (0.0, 1.0, 0.5)]
)
def test_closed_form_matches_integration(effect: float, variance: float, tau2: float) -> None:
    result = mixture_sprt(effect, variance, tau2, alpha=0.05)
    assert math.exp(result.log_lr) == pytest.approx(integrated_lr(effect, variance, tau2), rel=1e-6)


@given(effects, variances, st.floats(min_value=1e-3, max_value=10.0), alphas)
def test_confidence_sequence_inverts_the_test(
    effect: float, variance: float, tau2: float, alpha: float
) -> None:
    result = mixture_sprt(effect, variance, tau2, alpha)
    # at either end of the interval, testing "effect = end" gives exactly 1/alpha
    at_end = mixture_sprt(effect - result.ci_high, variance, tau2, alpha)
    assert at_end.log_lr == pytest.approx(math.log(1 / alpha), rel=1e-6, abs=1e-9)
    zero_outside = result.ci_low > 0 or result.ci_high < 0
    if abs(result.p_value - alpha) > 1e-9:
        assert (result.p_value < alpha) == zero_outside


def test_plug_in_variances() -> None:
    c, t = Proportion(20, 100), Proportion(30, 100)
    result = sequential_binary(c, t, alpha=0.05, mixture_sd=0.1, min_samples=100)
    assert result is not None
    v_c, v_t = (20.5 / 101) * (80.5 / 101), (30.5 / 101) * (70.5 / 101)
    assert result.variance == pytest.approx(v_c / 100 + v_t / 100)
    assert result.effect == pytest.approx(0.1)
    xs, ys = [1.0, 2.0, 4.0, 8.0], [2.0, 2.5, 3.0, 7.0, 9.0]
    cont = sequential_continuous(
        moments.add_many(moments.initial(), xs), moments.add_many(moments.initial(), ys), alpha=0.1
    )
    assert cont is not None
    expected_var = float(sps.tvar(xs)) / 4 + float(sps.tvar(ys)) / 5
    assert cont.variance == pytest.approx(expected_var)


def test_undefined_before_the_burn_in_or_without_variance() -> None:
    assert (
        sequential_binary(Proportion(5, 99), Proportion(5, 100), alpha=0.05, min_samples=100)
        is None
    )
    constant = Moments(10, 3.0, 0.0)
    assert sequential_continuous(constant, constant, alpha=0.05) is None


looks = st.builds(
    lambda e, v: mixture_sprt(e, v, 0.01, 0.05), effects, st.floats(min_value=1e-4, max_value=1.0)
)


def fold(items: list[SequentialResult]) -> RunningBound:
    state = bound_initial()
    for item in items:
        state = bound_add(state, item)
    return state


@given(st.lists(st.lists(looks, max_size=5), max_size=5))
def test_running_bounds_merge_like_one_fold(chunks: list[list[SequentialResult]]) -> None:
    merged = bound_initial()
    for chunk in chunks:
        merged = bound_merge(merged, fold(chunk))
    assert merged == fold([x for chunk in chunks for x in chunk])
    assert RunningBound.from_dict(merged.to_dict()) == merged


def test_running_bounds_keep_the_minimum_and_the_intersection() -> None:
    first, second = mixture_sprt(0.2, 0.01, 0.01, 0.05), mixture_sprt(0.05, 0.005, 0.01, 0.05)
    bound = bound_add(bound_add(bound_initial(), first), second)
    assert bound.p_value == min(first.p_value, second.p_value)
    assert (bound.ci_low, bound.ci_high) == (
        max(first.ci_low, second.ci_low),
        min(first.ci_high, second.ci_high),
    )
    far = mixture_sprt(5.0, 0.0001, 0.01, 0.05)  # disjoint from the running intersection
    assert bound_interval(bound, far) == (far.ci_low, far.ci_high)
