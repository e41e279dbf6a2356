"""A horizon-aware always-valid test: a linear boundary on the B-value, plus the mSPRT after.

When a test has a horizon (``max_samples`` or ``expected_samples`` per arm), its information
time is ``t = V_h / V``: ``V`` is the variance of the effect estimate now, ``V_h`` its variance
once every arm reached the horizon (the smallest arm ``h``, the others in proportion to their
weights), both from the current plug-in variances. The B-value ``W = effect * sqrt(V_h) / V``
is a standard Brownian motion in ``t`` under the null (Lan & DeMets, Biometrika 70(3), 1983).

A Brownian motion crosses the line ``a + b t`` before ``t = 1`` with probability

    g(a, b) = 1 - Phi(a + b) + exp(-2 a b) * Phi(b - a)

(Siegmund, "Sequential Analysis", 1985, ch. 3: given ``W(1) = x`` below the line, the bridge
crosses it with probability ``exp(-2 a (a + b - x))``). That is for continuous monitoring, so
a decision taken at any looks (after every event, or every batch of any size) crosses less
often. The two-sided boundary ``|W| >= a + b t``, ``b = SLOPE_RATIO * a``, spends
``HORIZON_SHARE * alpha`` over ``[0, 1]``: at alpha 0.05, ``a = 1.155`` and ``b = 1.502``, a
z-value of 2.66 at the horizon, against 3.1 for the default mSPRT there and 1.96 for a test
looked at only once. In the z-scale, ``(a + b t) / sqrt(t)`` is high early (like
O'Brien-Fleming's boundary) and lowest at ``t = a / b``. A look's p-value is the crossing
probability of the line of the same slope through ``|W|``, so its running minimum is a p-value
valid on ``[0, 1]`` at every level, as Holm and Benjamini-Hochberg need.

The mSPRT (:mod:`tonebridge.stats.sequential`) at the remaining ``(1 - HORIZON_SHARE) * alpha``
keeps the test valid past the horizon (a test with ``expected_samples`` may run longer); by
Bonferroni the combined p-value is ``min(p_line / share, p_msprt / (1 - share))`` and the
confidence sequence is the intersection of both intervals. Like the mSPRT's, validity rests
on the plug-in variances (asymptotic); ``bench/ab_peers.py`` measures it by simulation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache

from scipy import optimize, special

from tonebridge.stats.sequential import Inputs, SequentialResult, mixture_sprt

# Chosen with bench/ab_peers.py (docs/benchmarks.md): power >= 0.80 for 0.10 -> 0.12 within
# 5,000 per arm while deciding +0.03 no later than the mSPRT; a larger ratio stops big effects
# sooner and loses power at the horizon.
HORIZON_SHARE = 0.95  # of alpha spent up to the horizon; the rest keeps the mSPRT after it
SLOPE_RATIO = 1.3  # b / a of the boundary a + b t


def crossing(a: float, b: float) -> float:
    """P(a standard Brownian motion crosses ``a + b t`` for some ``t`` in [0, 1]), b >= 0."""
    if a <= 0.0:
        return 1.0
    return float(special.ndtr(-(a + b)) + math.exp(-2.0 * a * b) * special.ndtr(b - a))


@lru_cache(maxsize=64)
def boundary(alpha: float, ratio: float = SLOPE_RATIO) -> tuple[float, float]:
    """``(a, b)``, ``b = ratio * a``: the two-sided boundary ``|W| >= a + b t`` is crossed on
    [0, 1] with probability at most ``alpha`` (each side ``alpha / 2``)."""
    a = optimize.brentq(lambda a: crossing(a, ratio * a) - alpha / 2.0, 1e-6, 40.0, xtol=1e-12)
    return float(a), float(ratio * a)


def information_time(x: Inputs, h: tuple[float, float]) -> float:
    """``V_h / V``: the share of the horizon's information reached (``h``: counts of the
    control and the treatment at the horizon)."""
    return (x.v_c / h[0] + x.v_t / h[1]) / x.variance


def line_p_value(b_value: float, t: float, slope: float) -> float:
    """Two-sided: twice the crossing probability of the line of slope ``slope`` through
    ``|b_value|`` at ``t``; 1 past the horizon, where the line no longer applies."""
    if t > 1.0:
        return 1.0
    return min(1.0, 2.0 * crossing(abs(b_value) - slope * t, slope))


def horizon_sprt(
    x: Inputs | None, h: tuple[float, float], alpha: float, mixture_sd: float
) -> SequentialResult | None:
    """One look of the horizon-aware test (None before the burn-in, as the mSPRT)."""
    if x is None:
        return None
    t, (a, b) = information_time(x, h), boundary(HORIZON_SHARE * alpha, SLOPE_RATIO)
    after = mixture_sprt(x.effect, x.variance, x.tau2(mixture_sd), (1 - HORIZON_SHARE) * alpha)
    p_line = line_p_value(x.effect * math.sqrt(t / x.variance), t, b)
    p_value = min(1.0, p_line / HORIZON_SHARE, after.p_value / (1.0 - HORIZON_SHARE))
    low, high = after.ci_low, after.ci_high
    if t <= 1.0:
        half = (a + b * t) * math.sqrt(x.variance / t)
        low, high = max(low, x.effect - half), min(high, x.effect + half)
    log_lr = -math.log(p_value) if p_value > 0.0 else math.inf
    return SequentialResult(x.effect, x.variance, log_lr, p_value, low, high, "horizon")


def horizon_counts(weights: Mapping[str, float], horizon: int) -> dict[str, float]:
    """Each arm's count at the horizon: ``horizon`` for the smallest, the others in
    proportion to their weights."""
    smallest = min(weights.values())
    return {arm: horizon * w / smallest for arm, w in weights.items()}
