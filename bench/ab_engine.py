"""The A/B decision path vectorised over simulated tests, and its check against the product.

One metric, a control ``a`` and a treatment ``b``: :func:`decisions` replays what
``abtest.add`` followed by ``decide.evaluate`` after every event decides (the SRM gate first,
then the always-valid p-value's running minimum against alpha with the burn-in, then
``max_samples``), with numpy over a block of tests. :func:`check_every_look` runs the product's
own path on whole tests and requires the same p-values at every look and the same decision.
Peers are computed on the same data: GrowthBook's sequential test and the z-test at the horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from tonebridge.stats import abtests as abtest
from tonebridge.stats import decide
from tonebridge.stats import horizon as hz
from tonebridge.stats.arms import ArmObservation
from tonebridge.stats.horizon import horizon_counts
from tonebridge.stats.spec import ABSpec, ArmSpec, MetricSpec

NEVER = -1


@dataclass(frozen=True)
class Sums:
    """Running per-arm counts and sums of one block of tests: shape (tests, events).
    Squares are of the values less ``shift`` (each test's first value), for precision."""

    n_c: np.ndarray
    n_t: np.ndarray
    sum_c: np.ndarray
    sum_t: np.ndarray
    sq_c: np.ndarray
    sq_t: np.ndarray
    shift: np.ndarray
    covariate: Covariate | None = None


@dataclass(frozen=True)
class Covariate:
    """Running per-arm sums of the covariate (less its first value), its squares and its
    products with the metric (also shifted), for CUPED."""

    sx_c: np.ndarray
    sx_t: np.ndarray
    sxx_c: np.ndarray
    sxx_t: np.ndarray
    sxy_c: np.ndarray
    sxy_t: np.ndarray


@dataclass(frozen=True)
class Decisions:
    """Per test: the look (0-based event index) of the product's final decision and its
    kind; per look the running always-valid and SRM p-values (for the exactness check)."""

    at: np.ndarray  # NEVER when the test ran out of events undecided
    kind: np.ndarray  # index into KINDS
    p_value: np.ndarray
    srm_p_value: np.ndarray


KINDS = ("continue", "winner", "winner", "sample_ratio_mismatch", "no_difference")
TREATMENT_WINS, CONTROL_WINS, SRM, NO_DIFFERENCE = 1, 2, 3, 4


def spec_for(
    binary: bool, weights: tuple[float, float] = (1.0, 1.0), **limits: int | str | None
) -> ABSpec:
    metric = MetricSpec("success", "binary") if binary else MetricSpec("rating", "continuous")
    arms = (ArmSpec("a", "m-a", weights[0]), ArmSpec("b", "m-b", weights[1]))
    return ABSpec("sim", arms, (metric,), **limits)  # type: ignore[arg-type]


def _split(treated: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sums of ``v`` over the control's and the treatment's events."""
    return np.cumsum(np.where(treated, 0.0, v), axis=1), np.cumsum(
        np.where(treated, v, 0.0), axis=1
    )


def running(treated: np.ndarray, y: np.ndarray, x: np.ndarray | None = None) -> Sums:
    shift = y[:, :1]
    d = y - shift
    n_t = np.cumsum(treated, axis=1)
    n_c = np.arange(1, treated.shape[1] + 1) - n_t
    (sum_c, sum_t), (sq_c, sq_t) = _split(treated, d), _split(treated, d * d)
    cov = None
    if x is not None:
        dx = x - x[:, :1]
        cov = Covariate(*_split(treated, dx), *_split(treated, dx * dx), *_split(treated, dx * d))
    return Sums(n_c, n_t, sum_c + n_c * shift, sum_t + n_t * shift, sq_c, sq_t, shift, cov)


def cuped(s: Sums, cov: Covariate) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(effect, v_c, v_t) as tonebridge.stats.comoments.cuped_inputs computes them."""
    dy_c, dy_t = s.sum_c / s.n_c - s.shift, s.sum_t / s.n_t - s.shift  # shifted means
    dx_c, dx_t = cov.sx_c / s.n_c, cov.sx_t / s.n_t
    m2x_c, m2x_t = cov.sxx_c - s.n_c * dx_c**2, cov.sxx_t - s.n_t * dx_t**2
    cxy_c, cxy_t = cov.sxy_c - s.n_c * dx_c * dy_c, cov.sxy_t - s.n_t * dx_t * dy_t
    m2y_c, m2y_t = s.sq_c - s.n_c * dy_c**2, s.sq_t - s.n_t * dy_t**2
    theta = np.where(m2x_c + m2x_t > 0, (cxy_c + cxy_t) / (m2x_c + m2x_t), 0.0)
    v_c = (m2y_c - 2 * theta * cxy_c + theta**2 * m2x_c) / (s.n_c - 1)
    v_t = (m2y_t - 2 * theta * cxy_t + theta**2 * m2x_t) / (s.n_t - 1)
    effect = dy_t - dy_c - theta * (dx_t - dx_c)
    return effect, np.maximum(v_c, 0.0), np.maximum(v_t, 0.0)


def inputs(s: Sums, binary: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(effect, v_c, v_t) as tonebridge.stats.sequential.*_inputs compute them."""
    if s.covariate is not None:
        return cuped(s, s.covariate)
    mean_c, mean_t = s.sum_c / s.n_c, s.sum_t / s.n_t
    if binary:
        sm_c, sm_t = (s.sum_c + 0.5) / (s.n_c + 1.0), (s.sum_t + 0.5) / (s.n_t + 1.0)
        return mean_t - mean_c, sm_c * (1 - sm_c), sm_t * (1 - sm_t)
    v_c = np.maximum(s.sq_c - s.n_c * (mean_c - s.shift) ** 2, 0.0) / (s.n_c - 1)
    v_t = np.maximum(s.sq_t - s.n_t * (mean_t - s.shift) ** 2, 0.0) / (s.n_t - 1)
    return mean_t - mean_c, v_c, v_t


def msprt_p(effect: np.ndarray, variance: np.ndarray, tau2: np.ndarray, alpha: float) -> np.ndarray:
    """tonebridge.stats.sequential.mixture_sprt's p-value."""
    r = tau2 / variance
    log_lr = 0.5 * (effect * effect / variance * r / (1.0 + r) - np.log1p(r))
    return np.where(log_lr <= 0.0, 1.0, np.exp(-np.maximum(log_lr, 0.0)))


def horizon_p(
    effect: np.ndarray, v: tuple[np.ndarray, np.ndarray], n: tuple[np.ndarray, np.ndarray],
    h: tuple[float, float], spec: ABSpec,
) -> np.ndarray:  # fmt: skip
    """tonebridge.stats.horizon.horizon_sprt's p-value."""
    variance = v[0] / n[0] + v[1] / n[1]
    t = (v[0] / h[0] + v[1] / h[1]) / variance
    slope = hz.boundary(hz.HORIZON_SHARE * spec.alpha, hz.SLOPE_RATIO)[1]
    a = np.abs(effect * np.sqrt(t / variance)) - slope * t
    a_pos = np.maximum(a, 1e-300)
    cross = special.ndtr(-(a_pos + slope)) + np.exp(-2 * a_pos * slope) * special.ndtr(
        slope - a_pos
    )
    line = np.where((a <= 0.0) | (t > 1.0), 1.0, np.minimum(1.0, 2.0 * cross))
    tau2 = spec.mixture_sd**2 * 0.5 * (v[0] + v[1])
    after = msprt_p(effect, variance, tau2, spec.alpha)
    return np.minimum(1.0, np.minimum(line / hz.HORIZON_SHARE, after / (1.0 - hz.HORIZON_SHARE)))


def look_p(s: Sums, binary: bool, spec: ABSpec, horizon: bool) -> tuple[np.ndarray, np.ndarray]:
    """(p-value of this look, whether the look has one) for every look; ``horizon`` False
    forces the mSPRT (the product's test before it used the horizon)."""
    effect, v_c, v_t = inputs(s, binary)
    ready = (s.n_c >= spec.min_samples) & (s.n_t >= spec.min_samples)
    if s.covariate is not None:
        ready &= (s.n_c >= 3) & (s.n_t >= 3)
    if s.covariate is not None or not binary:
        ready &= v_c + v_t > 0.0
    if not horizon or spec.horizon is None:
        variance = v_c / s.n_c + v_t / s.n_t
        p = msprt_p(effect, variance, spec.mixture_sd**2 * 0.5 * (v_c + v_t), spec.alpha)
    else:
        h = horizon_counts({a.arm_id: a.weight for a in spec.arms}, spec.horizon)
        p = horizon_p(effect, (v_c, v_t), (s.n_c, s.n_t), (h["a"], h["b"]), spec)
    return np.where(ready, p, 1.0), ready


def srm_p(s: Sums, spec: ABSpec, k: float = 100.0) -> np.ndarray:
    """tonebridge.stats.srm.srm_test's p-value for two arms."""
    w_c, w_t = spec.arms[0].weight, spec.arms[1].weight
    share_c, share_t = w_c / (w_c + w_t), w_t / (w_c + w_t)
    n = s.n_c + s.n_t
    log_bf = special.gammaln(k) - special.gammaln(k + n)
    log_bf += special.gammaln(k * share_c + s.n_c) - special.gammaln(k * share_c)
    log_bf += special.gammaln(k * share_t + s.n_t) - special.gammaln(k * share_t)
    log_bf -= s.n_c * math.log(share_c) + s.n_t * math.log(share_t)
    return np.where(log_bf <= 0.0, 1.0, np.exp(-np.maximum(log_bf, 0.0)))


def first(mask: np.ndarray) -> np.ndarray:
    return np.where(mask.any(axis=1), mask.argmax(axis=1), NEVER)


def decisions(s: Sums, binary: bool, spec: ABSpec, horizon: bool = True) -> Decisions:
    """What decide.evaluate decides after every event, for every test of the block."""
    p, _ = look_p(s, binary, spec, horizon)
    p_min = np.minimum.accumulate(p, axis=1)
    srm_min = np.minimum.accumulate(srm_p(s, spec), axis=1)
    counts = np.minimum(s.n_c, s.n_t)
    srm = srm_min < spec.srm_alpha
    win = ~srm & (counts >= spec.min_samples) & (p_min < spec.alpha)
    done = ~srm & ~win & (counts >= spec.max_samples) if spec.max_samples else np.zeros_like(srm)
    at = first(srm | win | done)
    col = np.maximum(at, 0)[:, None]
    effect = inputs(s, binary)[0]
    up = np.take_along_axis(effect, col, axis=1)[:, 0] > 0
    kind = np.select(
        [at == NEVER, np.take_along_axis(srm, col, axis=1)[:, 0],
         np.take_along_axis(win, col, axis=1)[:, 0] & up,
         np.take_along_axis(win, col, axis=1)[:, 0]],
        [0, SRM, TREATMENT_WINS, CONTROL_WINS], NO_DIFFERENCE,
    )  # fmt: skip
    return Decisions(at, kind, p_min, srm_min)


def observation(binary: bool, value: float, x: float | None = None) -> ArmObservation:
    if binary:
        return ArmObservation({"success": value != 0.0}, {}, x)
    return ArmObservation({}, {"rating": value}, x)


def product_run(
    spec: ABSpec, treated: np.ndarray, y: np.ndarray, binary: bool, x: np.ndarray | None = None
) -> tuple[int, int, list[float], list[float]]:
    """``abtest.add`` then ``decide.evaluate`` after every event, until a final decision:
    (look, kind, always-valid p-value per look, SRM p-value per look)."""
    state, key = abtest.initial(spec), f"b/{spec.metrics[0].name}"
    ps: list[float] = []
    srms: list[float] = []
    xs = [None] * len(y) if x is None else x.tolist()
    for j, (is_t, value, cov) in enumerate(zip(treated.tolist(), y.tolist(), xs, strict=True)):
        state = abtest.add(state, "b" if is_t else "a", observation(binary, value, cov))
        state, decision = decide.evaluate(spec, state)
        ps.append(decision.p_values[key])
        srms.append(decision.p_values["srm"])
        if decision.is_final:
            return j, _kind(decision.kind, decision.arm), ps, srms
    return NEVER, 0, ps, srms


def _kind(kind: str, arm: str | None) -> int:
    if kind == "winner":
        return TREATMENT_WINS if arm == "b" else CONTROL_WINS
    return {"sample_ratio_mismatch": SRM, "no_difference": NO_DIFFERENCE}.get(kind, 0)


def check_every_look(
    spec: ABSpec,
    treated: np.ndarray,
    y: np.ndarray,
    binary: bool,
    tests: int,
    x: np.ndarray | None = None,
) -> int:
    """Run the product's path on the first ``tests`` tests of a block; every look's p-values
    and the decision must be the vectorised ones. Returns the number of looks compared."""
    with np.errstate(divide="ignore", invalid="ignore"):
        fast = decisions(running(treated, y, x), binary, spec)
    looks = 0
    for i in range(min(tests, treated.shape[0])):
        at, kind, ps, srms = product_run(
            spec, treated[i], y[i], binary, None if x is None else x[i]
        )
        stop = len(ps)
        np.testing.assert_allclose(ps, fast.p_value[i, :stop], rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(srms, fast.srm_p_value[i, :stop], rtol=1e-6, atol=1e-12)
        if (at, kind) != (int(fast.at[i]), int(fast.kind[i])):
            msg = f"test {i}: product decided {KINDS[kind]} at {at}, vectorised {fast.at[i]}"
            raise AssertionError(msg)
        looks += stop
    return looks


def _growthbook(
    s: Sums, binary: bool, alpha: float, tuning: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
    """(effect, variance, total n, rho^2, valid) of GrowthBook's sequential test, as
    gbstats.frequentist.tests.SequentialTwoSidedTTest computes them (absolute difference).
    ``valid`` is False where gbstats' ``compute_result`` returns its uninformative output
    (p = 1, CI [0, 0]): a control mean of 0 or an arm's variance <= 0."""
    mean_c, mean_t = s.sum_c / s.n_c, s.sum_t / s.n_t
    if binary:
        v_c, v_t = mean_c * (1 - mean_c), mean_t * (1 - mean_t)
    else:
        _, v_c, v_t = inputs(s, binary)
    variance = v_c / s.n_c + v_t / s.n_t
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning  # eq. 161
    valid = (mean_c != 0) & (v_c > 0) & (v_t > 0)
    return mean_t - mean_c, variance, s.n_c + s.n_t, rho2, valid


def growthbook_p(s: Sums, binary: bool, alpha: float, tuning: float) -> np.ndarray:
    """GrowthBook's sequential two-sided test of an absolute difference, at every look
    (gbstats.frequentist.tests.SequentialTwoSidedTTest: Waudby-Smith et al. 2023, eq. 155)."""
    effect, variance, n, rho2, valid = _growthbook(s, binary, alpha, tuning)
    st2 = effect**2 * n / variance
    tr2p1 = n * rho2 + 1
    log_e = rho2 * st2 / (2 * tr2p1) - 0.5 * np.log(tr2p1)
    return np.where(valid, np.minimum(1.0, np.exp(-log_e)), 1.0)


def growthbook_ci(
    s: Sums, binary: bool, alpha: float, tuning: float
) -> tuple[np.ndarray, np.ndarray]:
    """The same test's confidence sequence (Waudby-Smith et al. 2023, eq. 9): (lower, upper)."""
    effect, variance, n, rho2, valid = _growthbook(s, binary, alpha, tuning)
    tr2p1 = n * rho2 + 1
    width = np.sqrt(variance * n * 2 * tr2p1 * np.log(np.sqrt(tr2p1) / alpha) / (n * n * rho2))
    return np.where(valid, effect - width, 0.0), np.where(valid, effect + width, 0.0)


def z_at_horizon(
    s: Sums, binary: bool, alpha: float, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """The z-test once, when the smallest arm reaches ``horizon`` (pooled two-proportion
    or Welch): (rejected, effect)."""
    col = np.maximum(first(np.minimum(s.n_c, s.n_t) >= horizon), 0)[:, None]
    fields = ("n_c", "n_t", "sum_c", "sum_t", "sq_c", "sq_t")
    one = Sums(*(np.take_along_axis(getattr(s, f), col, axis=1) for f in fields), s.shift)
    effect, v_c, v_t = inputs(one, binary)
    if binary:
        pooled = (one.sum_c + one.sum_t) / (one.n_c + one.n_t)
        v_c = v_t = pooled * (1 - pooled)
    se = np.sqrt(v_c / one.n_c + v_t / one.n_t)[:, 0]
    z = effect[:, 0] / se
    return np.abs(z) > special.ndtri(1 - alpha / 2), effect[:, 0]
