"""Fixed-horizon tests, for reference: valid only when looked at once, at a planned size.

Checked after every event they reject a true null far more often than alpha; the decisions
use :mod:`tonebridge.stats.sequential`. Effects are treatment minus control.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from scipy import special

from tonebridge.stats.moments import Moments
from tonebridge.stats.proportion import Proportion

_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class FixedResult:
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    statistic: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normal_two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def normal_quantile(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def two_proportion_ztest(
    control: Proportion, treatment: Proportion, alpha: float = 0.05
) -> FixedResult | None:
    """Pooled z-test of equal rates; Wald interval of the difference. None when undefined."""
    n_c, n_t = control.trials, treatment.trials
    if n_c == 0 or n_t == 0:
        return None
    p_c, p_t = control.successes / n_c, treatment.successes / n_t
    pooled = (control.successes + treatment.successes) / (n_c + n_t)
    se_pooled = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_c + 1.0 / n_t))
    if se_pooled == 0.0:
        return None
    effect = p_t - p_c
    z = effect / se_pooled
    half = normal_quantile(1.0 - alpha / 2.0) * math.sqrt(
        p_c * (1.0 - p_c) / n_c + p_t * (1.0 - p_t) / n_t
    )
    return FixedResult(effect, effect - half, effect + half, normal_two_sided_p(z), z)


def welch_ttest(control: Moments, treatment: Moments, alpha: float = 0.05) -> FixedResult | None:
    """Welch's unequal-variance t-test and interval. None when undefined."""
    if control.n < 2 or treatment.n < 2:
        return None
    v_c = control.m2 / (control.n - 1) / control.n
    v_t = treatment.m2 / (treatment.n - 1) / treatment.n
    se2 = v_c + v_t
    if se2 <= 0.0:
        return None
    df = se2 * se2 / (v_c * v_c / (control.n - 1) + v_t * v_t / (treatment.n - 1))
    effect = treatment.mean - control.mean
    t = effect / math.sqrt(se2)
    p = 2.0 * float(special.stdtr(df, -abs(t)))
    half = float(special.stdtrit(df, 1.0 - alpha / 2.0)) * math.sqrt(se2)
    return FixedResult(effect, effect - half, effect + half, p, t)
