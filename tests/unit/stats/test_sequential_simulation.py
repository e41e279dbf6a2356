"""Small simulations, fixed seeds: checked after every event, the always-valid test keeps its
false-positive rate while a naive repeated test does not, and a real effect is found.

Data and running sums come from numpy; every look calls the library's own functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tonebridge.stats.fixed import two_proportion_ztest, welch_ttest
from tonebridge.stats.moments import Moments
from tonebridge.stats.proportion import Proportion
from tonebridge.stats.sequential import sequential_binary, sequential_continuous

ALPHA = 0.05
BURN_IN = 100  # per arm, as ABSpec.min_samples
SIMULATIONS = 200
EVENTS = 1600

Sums = tuple[int, float, float]  # count, sum, sum of squares of one arm so far
Look = Callable[[Sums, Sums], tuple[bool, bool]]  # (always-valid, naive) reject at this look


def binary_look(c: Sums, t: Sums) -> tuple[bool, bool]:
    control, treatment = Proportion(int(c[1]), c[0]), Proportion(int(t[1]), t[0])
    seq = sequential_binary(control, treatment, alpha=ALPHA, min_samples=BURN_IN)
    naive = two_proportion_ztest(control, treatment, ALPHA)
    return (seq is not None and seq.p_value < ALPHA), (naive is not None and naive.p_value < ALPHA)


def moments_of(sums: Sums) -> Moments:
    n, total, squares = sums
    mean = total / n
    return Moments(n, mean, max(squares - n * mean * mean, 0.0))


def continuous_look(c: Sums, t: Sums) -> tuple[bool, bool]:
    control, treatment = moments_of(c), moments_of(t)
    seq = sequential_continuous(control, treatment, alpha=ALPHA, min_samples=BURN_IN)
    naive = welch_ttest(control, treatment, ALPHA)
    return (seq is not None and seq.p_value < ALPHA), (naive is not None and naive.p_value < ALPHA)


def running_sums(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    return np.cumsum(mask), np.cumsum(values * mask), np.cumsum(values**2 * mask)


def rejections(arm: np.ndarray, values: np.ndarray, look: Look) -> tuple[bool, bool]:
    """Look after every event once both arms passed the burn-in; (always-valid, naive)."""
    n_t, sum_t, sq_t = running_sums(values, arm)
    n_c, sum_c, sq_c = running_sums(values, 1 - arm)
    seq_hit = naive_hit = False
    for i in np.flatnonzero((n_c >= BURN_IN) & (n_t >= BURN_IN)):
        control = (int(n_c[i]), float(sum_c[i]), float(sq_c[i]))
        seq, naive = look(control, (int(n_t[i]), float(sum_t[i]), float(sq_t[i])))
        seq_hit, naive_hit = seq_hit or seq, naive_hit or naive
        if seq_hit and naive_hit:
            break
    return seq_hit, naive_hit


Draw = Callable[[np.random.Generator, int], np.ndarray]


def a_a_rates(draw: Draw, look: Look, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    hits = [
        rejections(rng.integers(0, 2, EVENTS), draw(rng, EVENTS), look) for _ in range(SIMULATIONS)
    ]
    return float(np.mean([h[0] for h in hits])), float(np.mean([h[1] for h in hits]))


def ceiling(rate: float, runs: int) -> float:
    """Rate plus three Monte-Carlo standard errors."""
    return rate + 3.0 * math.sqrt(rate * (1.0 - rate) / runs)


def test_binary_a_a_checked_after_every_event() -> None:
    draw: Draw = lambda rng, n: (rng.random(n) < 0.2).astype(float)  # noqa: E731
    always_valid, naive = a_a_rates(draw, binary_look, seed=20240601)
    assert always_valid <= ceiling(ALPHA, SIMULATIONS)
    assert naive > ceiling(ALPHA, SIMULATIONS) + 0.1  # about 0.28 with this seed


def test_continuous_a_a_checked_after_every_event() -> None:
    draw: Draw = lambda rng, n: rng.normal(5.0, 2.0, n)  # noqa: E731
    always_valid, naive = a_a_rates(draw, continuous_look, seed=20240602)
    assert always_valid <= ceiling(ALPHA, SIMULATIONS)
    assert naive > ceiling(ALPHA, SIMULATIONS) + 0.1


def test_a_real_effect_is_detected() -> None:
    rng = np.random.default_rng(20240603)
    found = 0
    for _ in range(30):
        arm = rng.integers(0, 2, 5000)
        success = (rng.random(arm.size) < np.where(arm == 1, 0.16, 0.10)).astype(float)
        found += rejections(arm, success, binary_look)[0]
    assert found >= 27
