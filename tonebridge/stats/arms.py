"""What one A/B arm has seen: assignments, and per metric a proportion or moments."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from tonebridge.stats import comoments, moments, proportion
from tonebridge.stats.comoments import CoMoments
from tonebridge.stats.moments import Moments
from tonebridge.stats.proportion import Proportion
from tonebridge.stats.spec import SUCCESS, MetricSpec

S = TypeVar("S")


_NONE: Mapping[str, Any] = MappingProxyType({})


class ArmObservation(NamedTuple):
    """One served request: the metric values it produced (absent ones are simply missing).

    A tuple: one is made per outcome, and a frozen dataclass costs twice as much to make."""

    binary: Mapping[str, bool] = _NONE
    continuous: Mapping[str, float] = _NONE
    covariate: float | None = None  # the pre-exposure covariate the outcome carried, if any


@dataclass(frozen=True, slots=True)
class ArmState:
    assigned: int = 0  # requests served by the arm, for the sample-ratio check
    binary: Mapping[str, Proportion] = field(default_factory=dict)
    continuous: Mapping[str, Moments] = field(default_factory=dict)
    # per metric, with the covariate: only observations that carried it (CUPED)
    adjusted: Mapping[str, CoMoments] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "assigned": self.assigned,
            "binary": {k: v.to_dict() for k, v in self.binary.items()},
            "continuous": {k: v.to_dict() for k, v in self.continuous.items()},
            "adjusted": {k: v.to_dict() for k, v in self.adjusted.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArmState:
        return cls(
            int(data["assigned"]),
            {k: Proportion.from_dict(v) for k, v in data["binary"].items()},
            {k: Moments.from_dict(v) for k, v in data["continuous"].items()},
            {k: CoMoments.from_dict(v) for k, v in (data.get("adjusted") or {}).items()},
        )


def _metric_value(record: Mapping[str, Any], name: str) -> float | None:
    if name == SUCCESS:
        success = record.get("success")
        return None if success is None else float(success)
    value = (record.get("metrics") or {}).get(name)
    return None if value is None or not math.isfinite(value) else float(value)


def observation_from_outcome(
    record: Mapping[str, Any], metrics: Sequence[MetricSpec], covariate: str | None = None
) -> ArmObservation:
    """Read a decoded InferenceOutcome record: ``success`` from its field, any other metric
    from its ``metrics`` map; a binary metric from the map counts as a success when non-zero.
    The covariate, when the test names one, is the ``metrics`` entry of that name."""
    binary: dict[str, bool] = {}
    continuous: dict[str, float] = {}
    for metric in metrics:
        value = _metric_value(record, metric.name)
        if value is None:
            continue
        if metric.kind == "binary":
            binary[metric.name] = value != 0.0
        else:
            continuous[metric.name] = value
    x = _metric_value(record, covariate) if covariate else None
    return ArmObservation(binary, continuous, x)


def _adjusted(
    adjusted: Mapping[str, CoMoments], observations: Iterable[ArmObservation]
) -> Mapping[str, CoMoments]:
    """Fold each metric with the covariate, for the observations that carry one."""
    out: dict[str, CoMoments] | None = None
    for obs in observations:
        if obs.covariate is None:
            continue
        out = dict(adjusted) if out is None else out
        pairs = [*((k, float(v)) for k, v in obs.binary.items()), *obs.continuous.items()]
        for name, y in pairs:
            out[name] = comoments.add(out.get(name, CoMoments()), obs.covariate, y)
    return adjusted if out is None else out


def initial() -> ArmState:
    return ArmState()


def add(state: ArmState, obs: ArmObservation) -> ArmState:
    binary = state.binary
    if obs.binary:
        binary = dict(binary)
        for name, success in obs.binary.items():
            binary[name] = proportion.add(binary.get(name, Proportion()), success)
    continuous = state.continuous
    if obs.continuous:
        continuous = dict(continuous)
        for name, x in obs.continuous.items():
            continuous[name] = moments.add(continuous.get(name, Moments()), x)
    adjusted = _adjusted(state.adjusted, (obs,))
    return ArmState(state.assigned + 1, binary, continuous, adjusted)


def add_many(state: ArmState, observations: Iterable[ArmObservation]) -> ArmState:
    observations = list(observations)
    successes = {k: v.successes for k, v in state.binary.items()}
    trials = {k: v.trials for k, v in state.binary.items()}
    continuous = {k: [v.n, v.mean, v.m2] for k, v in state.continuous.items()}
    assigned = state.assigned
    for obs in observations:
        assigned += 1
        for name, success in obs.binary.items():
            trials[name] = trials.get(name, 0) + 1
            successes[name] = successes.get(name, 0) + success
        for name, x in obs.continuous.items():
            acc = continuous.get(name)
            if acc is None:
                acc = continuous[name] = [0, 0.0, 0.0]
            acc[0] += 1
            delta = x - acc[1]
            acc[1] += delta / acc[0]
            acc[2] += delta * (x - acc[1])
    return ArmState(
        assigned,
        {k: Proportion(successes[k], n) for k, n in trials.items()},
        {k: Moments(int(n), mean, m2) for k, (n, mean, m2) in continuous.items()},
        _adjusted(state.adjusted, observations),
    )


def add_successes(state: ArmState, successes: Sequence[object]) -> ArmState:
    """:func:`add_many` of the outcomes of a test whose one metric is the binary ``success``
    (and no covariate), from each outcome's ``success`` field, counted at once: a None is no
    value; False (or a 0) a failure, as ``float(value) != 0.0`` decides one at a time."""
    trials = len(successes) - successes.count(None)
    binary = state.binary
    if trials:
        won = trials - successes.count(False)
        before = binary.get(SUCCESS, Proportion())
        binary = {**binary, SUCCESS: Proportion(before.successes + won, before.trials + trials)}
    return ArmState(state.assigned + len(successes), binary, state.continuous, state.adjusted)


def _merge_maps(a: Mapping[str, S], b: Mapping[str, S], op: Callable[[S, S], S]) -> dict[str, S]:
    merged = dict(a)
    for name, value in b.items():
        merged[name] = op(merged[name], value) if name in merged else value
    return merged


def merge(a: ArmState, b: ArmState) -> ArmState:
    return ArmState(
        a.assigned + b.assigned,
        _merge_maps(a.binary, b.binary, proportion.merge),
        _merge_maps(a.continuous, b.continuous, moments.merge),
        _merge_maps(a.adjusted, b.adjusted, comoments.merge),
    )


def result(state: ArmState) -> dict[str, Any]:
    """Per metric: the rate or the mean, variance and std, as plain values."""
    out: dict[str, Any] = {"assigned": state.assigned}
    for name, p in state.binary.items():
        out[name] = proportion.result(p)
    for name, m in state.continuous.items():
        out[name] = moments.result(m)
    return out
