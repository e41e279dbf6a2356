"""Joint moments of a metric ``y`` and a pre-exposure covariate ``x``, and CUPED from them.

CUPED (Deng, Xu, Kohavi & Walker, "Improving the Sensitivity of Online Controlled
Experiments by Utilizing Pre-Experiment Data", WSDM 2013) compares ``y - theta x`` instead of
``y``: with ``theta`` the pooled within-arm regression slope, the effect is the treatment
coefficient of the least-squares fit ``y ~ 1 + treated + x`` and the per-arm variance shrinks
by ``1 - rho**2`` (``rho`` the correlation of ``x`` and ``y``). The covariate must be measured
before exposure (a user's rating history, not this session's), so the arms cannot change it.

The fold is Welford's, extended to the cross moment; merge is Chan et al.'s pairwise update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass
from typing import Any

from tonebridge.stats.sequential import Inputs


@dataclass(frozen=True, slots=True)
class CoMoments:
    """``n`` pairs; the means of ``x`` and ``y``, their squared deviations and cross product."""

    n: int = 0
    mean_x: float = 0.0
    mean_y: float = 0.0
    m2_x: float = 0.0
    m2_y: float = 0.0
    c_xy: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(
            zip(("n", "mean_x", "mean_y", "m2_x", "m2_y", "c_xy"), astuple(self), strict=True)
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CoMoments:
        fields = ("mean_x", "mean_y", "m2_x", "m2_y", "c_xy")
        return cls(int(data["n"]), *(float(data[f]) for f in fields))


def add(s: CoMoments, x: float, y: float) -> CoMoments:
    n = s.n + 1
    dx, dy = x - s.mean_x, y - s.mean_y
    mean_x, mean_y = s.mean_x + dx / n, s.mean_y + dy / n
    return CoMoments(
        n, mean_x, mean_y,
        s.m2_x + dx * (x - mean_x), s.m2_y + dy * (y - mean_y), s.c_xy + dx * (y - mean_y),
    )  # fmt: skip


def merge(a: CoMoments, b: CoMoments) -> CoMoments:
    if b.n == 0:
        return a
    if a.n == 0:
        return b
    n = a.n + b.n
    dx, dy, w = b.mean_x - a.mean_x, b.mean_y - a.mean_y, a.n * b.n / n
    return CoMoments(
        n, a.mean_x + dx * b.n / n, a.mean_y + dy * b.n / n,
        a.m2_x + b.m2_x + dx * dx * w, a.m2_y + b.m2_y + dy * dy * w, a.c_xy + b.c_xy + dx * dy * w,
    )  # fmt: skip


def _residual_variance(s: CoMoments, theta: float) -> float:
    return (s.m2_y - 2.0 * theta * s.c_xy + theta * theta * s.m2_x) / (s.n - 1)


def cuped_inputs(control: CoMoments, treatment: CoMoments, min_samples: int) -> Inputs | None:
    """The CUPED effect and per-arm residual variances (None before the burn-in, or when
    the covariate or the residuals do not vary)."""
    if min(control.n, treatment.n) < max(min_samples, 3):
        return None
    m2_x = control.m2_x + treatment.m2_x
    theta = (control.c_xy + treatment.c_xy) / m2_x if m2_x > 0.0 else 0.0
    v_c, v_t = _residual_variance(control, theta), _residual_variance(treatment, theta)
    if v_c + v_t <= 0.0:
        return None
    diff_y, diff_x = treatment.mean_y - control.mean_y, treatment.mean_x - control.mean_x
    return Inputs(diff_y - theta * diff_x, max(v_c, 0.0), max(v_t, 0.0), control.n, treatment.n)
