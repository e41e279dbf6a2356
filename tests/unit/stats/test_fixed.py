"""Fixed-horizon tests against statsmodels and scipy on fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from tonebridge.stats import moments
from tonebridge.stats.fixed import two_proportion_ztest, welch_ttest
from tonebridge.stats.proportion import Proportion


@pytest.mark.parametrize(("s_c", "n_c", "s_t", "n_t"), [(120, 1000, 150, 1000), (7, 40, 3, 55)])
def test_two_proportion_ztest_matches_statsmodels(s_c: int, n_c: int, s_t: int, n_t: int) -> None:
    result = two_proportion_ztest(Proportion(s_c, n_c), Proportion(s_t, n_t), alpha=0.05)
    assert result is not None
    z, p = proportions_ztest([s_t, s_c], [n_t, n_c])
    low, high = confint_proportions_2indep(s_t, n_t, s_c, n_c, method="wald", compare="diff")
    assert result.statistic == pytest.approx(z, rel=1e-10)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.effect == pytest.approx(s_t / n_t - s_c / n_c)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-9)


def test_two_proportion_ztest_undefined() -> None:
    assert two_proportion_ztest(Proportion(0, 0), Proportion(1, 2)) is None
    assert two_proportion_ztest(Proportion(0, 10), Proportion(0, 12)) is None


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    control = rng.normal(10.0, 2.0, 80)
    treatment = rng.normal(10.6, 3.5, 53)
    result = welch_ttest(
        moments.add_many(moments.initial(), control.tolist()),
        moments.add_many(moments.initial(), treatment.tolist()),
        alpha=0.1,
    )
    assert result is not None
    expected = sps.ttest_ind(treatment, control, equal_var=False)
    ci = expected.confidence_interval(confidence_level=0.9)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_welch_undefined() -> None:
    one = moments.add(moments.initial(), 1.0)
    assert welch_ttest(one, moments.add_many(moments.initial(), [1.0, 2.0])) is None
    constant = moments.add_many(moments.initial(), [2.0, 2.0, 2.0])
    assert welch_ttest(constant, constant) is None
