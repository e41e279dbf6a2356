"""Joint moments and CUPED: against numpy and a statsmodels least-squares fit."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given
from hypothesis import strategies as st

from tonebridge.errors import InvalidEventError
from tonebridge.stats import arms, comoments
from tonebridge.stats.arms import ArmObservation, ArmState
from tonebridge.stats.comoments import CoMoments, cuped_inputs
from tonebridge.stats.spec import ABSpec, ArmSpec, MetricSpec

values = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
pairs = st.lists(st.tuples(values, values), max_size=40)


def fold(points: list[tuple[float, float]]) -> CoMoments:
    state = CoMoments()
    for x, y in points:
        state = comoments.add(state, x, y)
    return state


def close(a: CoMoments, b: CoMoments) -> None:
    assert a.n == b.n
    for got, want in zip(a.to_dict().values(), b.to_dict().values(), strict=True):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-6)


@given(pairs, pairs)
def test_folding_in_chunks_and_merging_is_folding_once(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> None:
    close(comoments.merge(fold(a), fold(b)), fold(a + b))


def test_the_moments_are_numpys() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(100.0, 3.0, 500), rng.normal(-4.0, 2.0, 500)
    s = fold(list(zip(x.tolist(), y.tolist(), strict=True)))
    assert (s.mean_x, s.mean_y) == (pytest.approx(x.mean()), pytest.approx(y.mean()))
    assert s.m2_x == pytest.approx(((x - x.mean()) ** 2).sum())
    assert s.c_xy == pytest.approx(((x - x.mean()) * (y - y.mean())).sum())
    assert CoMoments.from_dict(s.to_dict()) == s


def test_the_cuped_effect_is_the_least_squares_treatment_coefficient() -> None:
    rng = np.random.default_rng(2)
    n = 800
    treated = rng.random(n) < 0.4
    x = rng.normal(3.5, 1.0, n)
    y = 0.7 * x + rng.normal(0.0, 0.8, n) + 0.3 * treated
    fit = sm.OLS(y, sm.add_constant(np.column_stack([treated.astype(float), x]))).fit()
    c = fold(list(zip(x[~treated].tolist(), y[~treated].tolist(), strict=True)))
    t = fold(list(zip(x[treated].tolist(), y[treated].tolist(), strict=True)))
    inputs = cuped_inputs(c, t, min_samples=10)
    assert inputs is not None
    assert inputs.effect == pytest.approx(fit.params[1], rel=1e-9)
    residual = y - fit.params[2] * x  # the pooled within-arm slope is the fit's x coefficient
    assert inputs.v_c == pytest.approx(residual[~treated].var(ddof=1), rel=1e-9)
    assert inputs.v_t == pytest.approx(residual[treated].var(ddof=1), rel=1e-9)
    # the variance shrinks by about 1 - rho^2 against the unadjusted difference
    assert inputs.v_c < 0.6 * y[~treated].var(ddof=1)


def test_cuped_needs_the_burn_in_and_some_variation() -> None:
    assert cuped_inputs(fold([(1.0, 2.0)] * 5), fold([(1.0, 3.0)] * 50), min_samples=10) is None
    assert cuped_inputs(fold([(1.0, 2.0)] * 50), fold([(2.0, 2.0)] * 50), min_samples=10) is None


def test_arms_fold_the_covariate_with_every_metric_of_an_outcome_that_carries_it() -> None:
    record = {"success": True, "metrics": {"rating": 4.0, "prior": 3.5}}
    metrics = (MetricSpec("success", "binary"), MetricSpec("rating", "continuous"))
    obs = arms.observation_from_outcome(record, metrics, "prior")
    assert obs == ArmObservation({"success": True}, {"rating": 4.0}, 3.5)
    without = arms.observation_from_outcome({"success": False}, metrics, "prior")
    assert without.covariate is None
    one_by_one = arms.add(arms.add(arms.initial(), obs), without)
    at_once = arms.add_many(arms.initial(), [obs, without])
    merged = arms.merge(arms.add(arms.initial(), obs), arms.add(arms.initial(), without))
    assert one_by_one == at_once == merged
    assert one_by_one.adjusted["rating"] == CoMoments(1, 3.5, 4.0)
    assert one_by_one.adjusted["success"].n == 1 and one_by_one.binary["success"].trials == 2
    assert ArmState.from_dict(one_by_one.to_dict()) == one_by_one
    legacy = {k: v for k, v in one_by_one.to_dict().items() if k != "adjusted"}
    assert ArmState.from_dict(legacy).adjusted == {}


def test_a_spec_names_a_covariate_that_is_not_a_metric() -> None:
    arms_ = (ArmSpec("a", "m1"), ArmSpec("b", "m2"))
    spec = ABSpec("t", arms_, covariate="prior")
    assert ABSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InvalidEventError, match="covariate is also a metric"):
        ABSpec("t", arms_, covariate="success")
