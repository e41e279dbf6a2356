"""The state of one A/B test: every arm's fold plus the running always-valid bounds.

``add``/``add_many``/``merge`` fold observations into the arms; they are cheap and do no
testing. ``checkpoint`` is one *look*: it computes each treatment-versus-control mSPRT and the
sample-ratio test and folds them into the running minimum p-values and intersected confidence
sequences. Call it as often as you like (after every event or every batch): the bounds stay
valid however often they are looked at; looking less often only loses a little power.
``merge`` of bounds is only meaningful for states of the same stream (a restored copy).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tonebridge.errors import InvalidEventError
from tonebridge.stats import arms
from tonebridge.stats.arms import ArmObservation, ArmState
from tonebridge.stats.comoments import CoMoments, cuped_inputs
from tonebridge.stats.fixed import FixedResult, two_proportion_ztest, welch_ttest
from tonebridge.stats.horizon import horizon_counts, horizon_sprt
from tonebridge.stats.moments import Moments
from tonebridge.stats.proportion import Proportion
from tonebridge.stats.sequential import (
    Inputs,
    RunningBound,
    SequentialResult,
    binary_inputs,
    bound_add,
    bound_merge,
    continuous_inputs,
    msprt,
)
from tonebridge.stats.spec import ABSpec, MetricSpec
from tonebridge.stats.srm import SrmResult, srm_test

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ABState:
    arms: Mapping[str, ArmState]
    bounds: Mapping[str, Mapping[str, RunningBound]] = field(default_factory=dict)
    srm_p_value: float = 1.0  # running minimum over looks
    looks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "arms": {k: v.to_dict() for k, v in self.arms.items()},
            "bounds": {
                arm: {metric: b.to_dict() for metric, b in per_metric.items()}
                for arm, per_metric in self.bounds.items()
            },
            "srm_p_value": self.srm_p_value,
            "looks": self.looks,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ABState:
        return cls(
            {k: ArmState.from_dict(v) for k, v in data["arms"].items()},
            {
                arm: {metric: RunningBound.from_dict(b) for metric, b in per_metric.items()}
                for arm, per_metric in data["bounds"].items()
            },
            float(data["srm_p_value"]),
            int(data["looks"]),
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    """One treatment arm against the control on one metric, at one look."""

    arm: str
    metric: MetricSpec
    control_n: int
    treatment_n: int
    control_value: float | None  # rate or mean
    treatment_value: float | None
    sequential: SequentialResult | None  # None before min_samples in both arms
    fixed: FixedResult | None  # for reference only


@dataclass(frozen=True, slots=True)
class Look:
    comparisons: tuple[Comparison, ...]
    srm: SrmResult


def initial(spec: ABSpec) -> ABState:
    return ABState({a.arm_id: ArmState() for a in spec.arms})


def _unknown(arm_id: str) -> InvalidEventError:
    return InvalidEventError(f"outcome for arm {arm_id!r}, which is not in this test")


def add(state: ABState, arm_id: str, obs: ArmObservation) -> ABState:
    if arm_id not in state.arms:
        raise _unknown(arm_id)
    updated = dict(state.arms)
    updated[arm_id] = arms.add(updated[arm_id], obs)
    return ABState(updated, state.bounds, state.srm_p_value, state.looks)


def add_many(state: ABState, events: Iterable[tuple[str, ArmObservation]]) -> ABState:
    updated = dict(state.arms)
    for arm_id, observations in _by_arm(state, events).items():
        updated[arm_id] = arms.add_many(updated[arm_id], observations)
    return ABState(updated, state.bounds, state.srm_p_value, state.looks)


def add_successes(state: ABState, events: Iterable[tuple[str, object]]) -> ABState:
    """:func:`add_many` for a test whose one metric is the binary ``success`` and that has no
    covariate, from each outcome's arm and ``success`` field (:func:`arms.add_successes`)."""
    updated = dict(state.arms)
    for arm_id, successes in _by_arm(state, events).items():
        updated[arm_id] = arms.add_successes(updated[arm_id], successes)
    return ABState(updated, state.bounds, state.srm_p_value, state.looks)


def _by_arm(state: ABState, events: Iterable[tuple[str, _T]]) -> dict[str, list[_T]]:
    """The values of ``events`` grouped by arm; raises for an arm the test does not have."""
    grouped: dict[str, list[_T]] = defaultdict(list)
    for arm_id, value in events:
        if arm_id not in state.arms:
            raise _unknown(arm_id)
        grouped[arm_id].append(value)
    return grouped


def _merge_bounds(
    a: Mapping[str, Mapping[str, RunningBound]], b: Mapping[str, Mapping[str, RunningBound]]
) -> dict[str, dict[str, RunningBound]]:
    merged = {arm: dict(per_metric) for arm, per_metric in a.items()}
    for arm, per_metric in b.items():
        into = merged.setdefault(arm, {})
        for metric, bound in per_metric.items():
            into[metric] = bound_merge(into[metric], bound) if metric in into else bound
    return merged


def merge(a: ABState, b: ABState) -> ABState:
    merged = dict(a.arms)
    for arm_id, state in b.arms.items():
        merged[arm_id] = arms.merge(merged[arm_id], state) if arm_id in merged else state
    return ABState(
        merged,
        _merge_bounds(a.bounds, b.bounds),
        min(a.srm_p_value, b.srm_p_value),
        a.looks + b.looks,
    )


def sequential(spec: ABSpec, arm: str, inputs: Inputs | None) -> SequentialResult | None:
    """The always-valid test of one comparison: horizon-aware when the spec has a horizon,
    else the mSPRT."""
    if spec.horizon is None:
        return msprt(inputs, spec.alpha, spec.mixture_sd)
    h = horizon_counts({a.arm_id: a.weight for a in spec.arms}, spec.horizon)
    return horizon_sprt(inputs, (h[spec.control], h[arm]), spec.alpha, spec.mixture_sd)


def _adjusted(spec: ABSpec, arm: str, metric: MetricSpec, state: ABState) -> Inputs | None:
    """CUPED inputs: only outcomes that carried the covariate count (see ABSpec)."""
    c = state.arms[spec.control].adjusted.get(metric.name, CoMoments())
    t = state.arms[arm].adjusted.get(metric.name, CoMoments())
    return cuped_inputs(c, t, spec.min_samples)


def _compare_binary(
    spec: ABSpec, arm: str, metric: MetricSpec, state: ABState, reference: bool
) -> Comparison:
    c = state.arms[spec.control].binary.get(metric.name, Proportion())
    t = state.arms[arm].binary.get(metric.name, Proportion())
    plain = None if spec.covariate else binary_inputs(c, t, spec.min_samples)
    seq = sequential(spec, arm, _adjusted(spec, arm, metric, state) if spec.covariate else plain)
    c_rate = c.successes / c.trials if c.trials else None
    t_rate = t.successes / t.trials if t.trials else None
    fixed = two_proportion_ztest(c, t, spec.alpha) if reference else None
    return Comparison(arm, metric, c.trials, t.trials, c_rate, t_rate, seq, fixed)


def _compare_continuous(
    spec: ABSpec, arm: str, metric: MetricSpec, state: ABState, reference: bool
) -> Comparison:
    c = state.arms[spec.control].continuous.get(metric.name, Moments())
    t = state.arms[arm].continuous.get(metric.name, Moments())
    plain = None if spec.covariate else continuous_inputs(c, t, spec.min_samples)
    seq = sequential(spec, arm, _adjusted(spec, arm, metric, state) if spec.covariate else plain)
    c_mean = c.mean if c.n else None
    t_mean = t.mean if t.n else None
    fixed = welch_ttest(c, t, spec.alpha) if reference else None
    return Comparison(arm, metric, c.n, t.n, c_mean, t_mean, seq, fixed)


def look(spec: ABSpec, state: ABState, *, reference: bool = True) -> Look:
    """Every comparison and the sample-ratio test on the current arms (no running bounds);
    ``reference`` adds the fixed-horizon tests, which only a reported decision needs."""
    comparisons = tuple(
        (_compare_binary if metric.kind == "binary" else _compare_continuous)(
            spec, arm, metric, state, reference
        )
        for arm in spec.treatments
        for metric in spec.metrics
    )
    counts = [state.arms[a.arm_id].assigned for a in spec.arms]
    weights = [a.weight for a in spec.arms]
    return Look(comparisons, srm_test(counts, weights, reference=reference))


def fold_look(state: ABState, current: Look) -> ABState:
    bounds = {arm: dict(per_metric) for arm, per_metric in state.bounds.items()}
    for comparison in current.comparisons:
        if comparison.sequential is None:
            continue
        per_metric = bounds.setdefault(comparison.arm, {})
        previous = per_metric.get(comparison.metric.name, RunningBound())
        per_metric[comparison.metric.name] = bound_add(previous, comparison.sequential)
    srm_p = min(state.srm_p_value, current.srm.p_value)
    return ABState(state.arms, bounds, srm_p, state.looks + 1)


def checkpoint(spec: ABSpec, state: ABState) -> ABState:
    """One look folded into the running bounds."""
    return fold_look(state, look(spec, state, reference=False))
