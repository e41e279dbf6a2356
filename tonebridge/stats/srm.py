"""Sample-ratio mismatch: do the arms get the traffic shares they were configured with?

The sequential test is the Dirichlet-multinomial Bayes factor of Lindon & Malek, "Anytime-
Valid Inference for Multinomial Count Data" (NeurIPS 2022; arXiv 2020). Under the configured
shares the Bayes factor is a non-negative martingale with mean one, so ``min(1, 1 / max BF)``
is an always-valid p-value: it may be checked after every assignment. The prior is
Dirichlet(k * shares) with k = 100, as in the authors' reference implementation.
A chi-square goodness-of-fit test is kept for reference (valid at one look only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scipy import special

DEFAULT_CONCENTRATION = 100.0


@dataclass(frozen=True, slots=True)
class SrmResult:
    counts: tuple[int, ...]
    expected_shares: tuple[float, ...]
    log_bayes_factor: float
    p_value: float  # 1 / BF at this look; the always-valid p-value is the running minimum
    chi2_statistic: float | None  # None when computed without the reference test
    chi2_p_value: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalise(weights: Sequence[float]) -> tuple[float, ...]:
    total = math.fsum(weights)
    if total <= 0.0 or any(w <= 0.0 for w in weights):
        msg = "arm weights must be positive"
        raise ValueError(msg)
    return tuple(w / total for w in weights)


def log_bayes_factor(
    counts: Sequence[int], shares: Sequence[float], concentration: float = DEFAULT_CONCENTRATION
) -> float:
    """log BF of "any shares" (Dirichlet prior) against the configured ``shares``."""
    prior = [concentration * s for s in shares]
    n = sum(counts)
    log_marginal = math.lgamma(concentration) - math.lgamma(concentration + n)
    for c, a in zip(counts, prior, strict=True):
        log_marginal += math.lgamma(a + c) - math.lgamma(a)
    log_null = math.fsum(c * math.log(s) for c, s in zip(counts, shares, strict=True) if c)
    return log_marginal - log_null


def chi_square(counts: Sequence[int], shares: Sequence[float]) -> tuple[float, float]:
    n = sum(counts)
    if n == 0:
        return 0.0, 1.0
    stat = math.fsum((c - n * s) ** 2 / (n * s) for c, s in zip(counts, shares, strict=True))
    return stat, float(special.chdtrc(len(counts) - 1, stat))


def srm_test(
    counts: Sequence[int],
    weights: Sequence[float],
    concentration: float = DEFAULT_CONCENTRATION,
    *,
    reference: bool = True,
) -> SrmResult:
    shares = normalise(weights)
    log_bf = log_bayes_factor(counts, shares, concentration)
    stat, chi2_p = chi_square(counts, shares) if reference else (None, None)
    return SrmResult(
        counts=tuple(counts),
        expected_shares=shares,
        log_bayes_factor=log_bf,
        p_value=1.0 if log_bf <= 0.0 else math.exp(-log_bf),
        chi2_statistic=stat,
        chi2_p_value=chi2_p,
    )
