"""What one A/B arm has seen: assignments, and per metric a proportion or moments."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tonebridge.stats import moments, proportion
from tonebridge.stats.moments import Moments
from tonebridge.stats.proportion import Proportion
from tonebridge.stats.spec import SUCCESS, MetricSpec

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class ArmObservation:
    """One served request: the metric values it produced (absent ones are simply missing)."""

    binary: Mapping[str, bool] = field(default_factory=dict)
    continuous: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ArmState:
    assigned: int = 0  # requests served by the arm, for the sample-ratio check
    binary: Mapping[str, Proportion] = field(default_factory=dict)
    continuous: Mapping[str, Moments] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "assigned": self.assigned,
            "binary": {k: v.to_dict() for k, v in self.binary.items()},
            "continuous": {k: v.to_dict() for k, v in self.continuous.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArmState:
        return cls(
            int(data["assigned"]),
            {k: Proportion.from_dict(v) for k, v in data["binary"].items()},
            {k: Moments.from_dict(v) for k, v in data["continuous"].items()},
        )


def _metric_value(record: Mapping[str, Any], name: str) -> float | None:
    if name == SUCCESS:
        success = record.get("success")
        return None if success is None else float(success)
    value = (record.get("metrics") or {}).get(name)
    return None if value is None or not math.isfinite(value) else float(value)


def observation_from_outcome(
    record: Mapping[str, Any], metrics: Sequence[MetricSpec]
) -> ArmObservation:
    """Read a decoded InferenceOutcome record: ``success`` from its field, any other metric
    from its ``metrics`` map; a binary metric from the map counts as a success when non-zero."""
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
    return ArmObservation(binary, continuous)


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
    return ArmState(state.assigned + 1, binary, continuous)


def add_many(state: ArmState, observations: Iterable[ArmObservation]) -> ArmState:
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
    )


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
    )


def result(state: ArmState) -> dict[str, Any]:
    """Per metric: the rate or the mean, variance and std, as plain values."""
    out: dict[str, Any] = {"assigned": state.assigned}
    for name, p in state.binary.items():
        out[name] = proportion.result(p)
    for name, m in state.continuous.items():
        out[name] = moments.result(m)
    return out
