"""Always-valid inference for a difference of means: the normal-mixture SPRT (mSPRT).

Johari, Koomen, Pekelis & Walsh, "Always Valid Inference: Continuous Monitoring of A/B
Tests", Operations Research 70(3), 2022; the mixture martingale goes back to Robbins (1970).

With ``V`` the variance of the estimated effect (treatment minus control) and a normal
mixing distribution N(0, tau2) over the effect, the likelihood ratio against "no effect" is

    LR = sqrt(V / (V + tau2)) * exp(tau2 * effect**2 / (2 * V * (V + tau2)))

``effect / V`` is a Brownian motion in information time ``1 / V`` whatever order the two arms'
observations arrive in, so LR is a non-negative martingale under the null and, by Ville's
inequality, ``min(1, 1 / max LR)`` is a p-value valid at any stopping time: it may be looked
at after every event. Inverting the same ratio gives a confidence sequence.

The per-arm variances are plug-in estimates, so validity is asymptotic; the comparisons are
undefined until each arm has ``min_samples`` values (a burn-in), and a binary rate's variance
is estimated with one half pseudo-success and one half pseudo-failure so it is never zero.
``bench/ab_simulation.py`` and the unit tests measure the false-positive rate by simulation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tonebridge.stats.moments import Moments
from tonebridge.stats.proportion import Proportion

DEFAULT_MIXTURE_SD = 0.1


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """One look: the effect, its variance, the mixture LR and what follows from it."""

    effect: float
    variance: float
    log_lr: float
    p_value: float  # 1 / LR of this look; the always-valid p-value is the running minimum
    ci_low: float
    ci_high: float
    test: str = "msprt"  # which test: "msprt", or "horizon" (tonebridge.stats.horizon)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mixture_sprt(effect: float, variance: float, tau2: float, alpha: float) -> SequentialResult:
    """The mSPRT at one look, for an effect estimate of the given variance."""
    r = tau2 / variance
    log1p_r = math.log1p(r)
    log_lr = 0.5 * (effect * effect / variance * r / (1.0 + r) - log1p_r)
    p_value = 1.0 if log_lr <= 0.0 else math.exp(-log_lr)
    half = math.sqrt(variance * (1.0 + r) / r * (2.0 * math.log(1.0 / alpha) + log1p_r))
    return SequentialResult(effect, variance, log_lr, p_value, effect - half, effect + half)


def _smoothed_variance(p: Proportion) -> float:
    rate = (p.successes + 0.5) / (p.trials + 1.0)
    return rate * (1.0 - rate)


@dataclass(frozen=True, slots=True)
class Inputs:
    """What every test of a difference needs: the effect, per-arm variances and counts."""

    effect: float
    v_c: float
    v_t: float
    n_c: int
    n_t: int

    @property
    def variance(self) -> float:
        return self.v_c / self.n_c + self.v_t / self.n_t

    def tau2(self, mixture_sd: float) -> float:
        return mixture_sd * mixture_sd * 0.5 * (self.v_c + self.v_t)


def binary_inputs(control: Proportion, treatment: Proportion, min_samples: int) -> Inputs | None:
    n_c, n_t = control.trials, treatment.trials
    if n_c < max(min_samples, 1) or n_t < max(min_samples, 1):
        return None
    effect = treatment.successes / n_t - control.successes / n_c
    return Inputs(effect, _smoothed_variance(control), _smoothed_variance(treatment), n_c, n_t)


def continuous_inputs(control: Moments, treatment: Moments, min_samples: int) -> Inputs | None:
    if control.n < max(min_samples, 2) or treatment.n < max(min_samples, 2):
        return None
    v_c, v_t = control.m2 / (control.n - 1), treatment.m2 / (treatment.n - 1)
    if v_c + v_t <= 0.0:
        return None  # constant values: no variance to plug in
    return Inputs(treatment.mean - control.mean, v_c, v_t, control.n, treatment.n)


def msprt(inputs: Inputs | None, alpha: float, mixture_sd: float) -> SequentialResult | None:
    if inputs is None:
        return None
    return mixture_sprt(inputs.effect, inputs.variance, inputs.tau2(mixture_sd), alpha)


def sequential_binary(
    control: Proportion,
    treatment: Proportion,
    *,
    alpha: float,
    mixture_sd: float = DEFAULT_MIXTURE_SD,
    min_samples: int = 2,
) -> SequentialResult | None:
    """mSPRT for a difference of rates; ``mixture_sd`` is in units of the outcome's std."""
    return msprt(binary_inputs(control, treatment, min_samples), alpha, mixture_sd)


def sequential_continuous(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float,
    mixture_sd: float = DEFAULT_MIXTURE_SD,
    min_samples: int = 2,
) -> SequentialResult | None:
    """mSPRT for a difference of means; ``mixture_sd`` is in units of the pooled std."""
    return msprt(continuous_inputs(control, treatment, min_samples), alpha, mixture_sd)


@dataclass(frozen=True, slots=True)
class RunningBound:
    """A fold over looks: the always-valid p-value (running minimum) and the running
    intersection of the confidence sequence. Merge only bounds of the same stream."""

    looks: int = 0
    p_value: float = 1.0
    ci_low: float | None = None
    ci_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunningBound:
        low, high = data["ci_low"], data["ci_high"]
        return cls(
            int(data["looks"]),
            float(data["p_value"]),
            None if low is None else float(low),
            None if high is None else float(high),
        )


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def bound_initial() -> RunningBound:
    return RunningBound()


def bound_add(state: RunningBound, look: SequentialResult) -> RunningBound:
    return RunningBound(
        state.looks + 1,
        min(state.p_value, look.p_value),
        _max(state.ci_low, look.ci_low),
        _min(state.ci_high, look.ci_high),
    )


def bound_merge(a: RunningBound, b: RunningBound) -> RunningBound:
    return RunningBound(
        a.looks + b.looks,
        min(a.p_value, b.p_value),
        _max(a.ci_low, b.ci_low),
        _min(a.ci_high, b.ci_high),
    )


def bound_interval(state: RunningBound, look: SequentialResult) -> tuple[float, float]:
    """The running intersection, or this look's interval if the intersection is empty
    (which happens with probability at most alpha, or when the effect drifts)."""
    low = look.ci_low if state.ci_low is None else max(state.ci_low, look.ci_low)
    high = look.ci_high if state.ci_high is None else min(state.ci_high, look.ci_high)
    return (low, high) if low <= high else (look.ci_low, look.ci_high)
