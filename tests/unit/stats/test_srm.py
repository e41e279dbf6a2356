"""Sample-ratio mismatch: the Bayes factor against an independent computation, the chi-square
against scipy, and the sequential test's error rate and power by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from tonebridge.stats.srm import log_bayes_factor, normalise, srm_test


def reference_log_bf(counts: list[int], shares: list[float], k: float) -> float:
    """Marginal likelihood of the sequence under Dirichlet(k * shares) over its likelihood
    under ``shares``: the multinomial coefficient cancels, so use scipy's pmfs."""
    n = sum(counts)
    alpha = [k * s for s in shares]
    marginal = sps.dirichlet_multinomial.logpmf(counts, alpha, n)
    null = sps.multinomial.logpmf(counts, n, shares)
    return float(marginal - null)


@pytest.mark.parametrize(
    ("counts", "weights"), [([480, 520], [1, 1]), ([100, 230, 170], [1, 2, 1]), ([0, 9], [3, 1])]
)
def test_bayes_factor_matches_scipy(counts: list[int], weights: list[float]) -> None:
    shares = list(normalise(weights))
    expected = reference_log_bf(counts, shares, 100.0)
    assert log_bayes_factor(counts, shares, 100.0) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_chi_square_matches_scipy() -> None:
    counts, weights = [310, 290, 400], [1.0, 1.0, 1.5]
    result = srm_test(counts, weights)
    shares = np.array(normalise(weights))
    expected = sps.chisquare(counts, f_exp=shares * sum(counts))
    assert result.chi2_statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.chi2_p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_weights_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        srm_test([1, 2], [1.0, 0.0])


def running_min_p(assignments: np.ndarray, shares: list[float], every: int) -> float:
    """The always-valid p-value after looking every ``every`` assignments."""
    counts = np.cumsum(assignments[:, None] == np.arange(len(shares)), axis=0)
    best = 0.0
    for row in counts[every - 1 :: every]:
        best = max(best, log_bayes_factor(row.tolist(), shares))
    return min(1.0, math.exp(-best))


def test_sequential_srm_rarely_fires_under_the_null_and_detects_a_skew() -> None:
    rng = np.random.default_rng(11)
    shares, alpha = [0.5, 0.5], 0.05
    nulls = [running_min_p(rng.integers(0, 2, 4000), shares, 10) for _ in range(200)]
    false_positive = float(np.mean(np.array(nulls) < alpha))
    assert false_positive <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / 200)
    skewed = [running_min_p((rng.random(4000) < 0.56).astype(int), shares, 10) for _ in range(20)]
    assert np.mean(np.array(skewed) < alpha) >= 0.9
