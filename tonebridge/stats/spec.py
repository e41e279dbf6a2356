"""What an A/B test compares and how strictly: built from an ABTestCommand record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from tonebridge.errors import InvalidEventError

MetricKind = Literal["binary", "continuous"]
Correction = Literal["holm", "bh"]
SUCCESS = "success"  # the binary metric read from InferenceOutcome.success


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: MetricKind
    higher_is_better: bool = True
    guardrail: bool = False
    # |effect| inside this margin for the whole confidence sequence counts as no difference
    equivalence_margin: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "guardrail": self.guardrail,
            "equivalence_margin": self.equivalence_margin,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricSpec:
        kind = str(data["kind"])
        if kind not in ("binary", "continuous"):
            msg = f"metric kind must be binary or continuous, got {kind!r}"
            raise InvalidEventError(msg)
        margin = data.get("equivalence_margin")
        return cls(
            name=str(data["name"]),
            kind=cast(MetricKind, kind),
            higher_is_better=bool(data.get("higher_is_better", True)),
            guardrail=bool(data.get("guardrail", False)),
            equivalence_margin=None if margin is None else float(margin),
        )


@dataclass(frozen=True, slots=True)
class ArmSpec:
    arm_id: str
    model_id: str
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"arm_id": self.arm_id, "model_id": self.model_id, "weight": self.weight}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArmSpec:
        return cls(str(data["arm_id"]), str(data["model_id"]), float(data.get("weight", 1.0)))


@dataclass(frozen=True, slots=True)
class ABSpec:
    """``min_samples`` per arm and metric gates every decision and is also the burn-in of the
    plug-in variances; ``max_samples`` per arm (optional) ends a test as no_difference.
    ``max_duration_seconds`` (from the create command's event time) and
    ``idle_timeout_seconds`` (since the latest outcome, or the start) end a test by time
    (:mod:`tonebridge.decisions.abtest_limits`).
    ``expected_samples`` per arm (optional) is the planned size when nothing caps it: with
    either, the horizon-aware test of :mod:`tonebridge.stats.horizon` decides. ``covariate``
    (optional) names the ``metrics`` entry of an outcome that holds a pre-exposure covariate:
    every metric is then compared CUPED-adjusted (:mod:`tonebridge.stats.comoments`), on the
    outcomes that carry it."""

    test_id: str
    arms: tuple[ArmSpec, ...]
    metrics: tuple[MetricSpec, ...] = (MetricSpec(SUCCESS, "binary"),)
    alpha: float = 0.05
    min_samples: int = 100
    control_arm: str | None = None
    correction: Correction = "holm"
    mixture_sd: float = 0.1
    srm_alpha: float = 0.001
    max_samples: int | None = None
    max_duration_seconds: int | None = None
    idle_timeout_seconds: int | None = None
    expected_samples: int | None = None
    covariate: str | None = None

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            msg = f"A/B test {self.test_id}: {problem}"
            raise InvalidEventError(msg)

    @property
    def control(self) -> str:
        return self.control_arm if self.control_arm is not None else self.arms[0].arm_id

    @property
    def treatments(self) -> tuple[str, ...]:
        return tuple(a.arm_id for a in self.arms if a.arm_id != self.control)

    @property
    def horizon(self) -> int | None:
        """Samples per arm (the smallest) the test plans for: a cap, or else an expectation."""
        return self.max_samples if self.max_samples is not None else self.expected_samples

    def model_of(self, arm_id: str) -> str:
        return next(a.model_id for a in self.arms if a.arm_id == arm_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "arms": [a.to_dict() for a in self.arms],
            "metrics": [m.to_dict() for m in self.metrics],
            "alpha": self.alpha,
            "min_samples": self.min_samples,
            "control_arm": self.control_arm,
            "correction": self.correction,
            "mixture_sd": self.mixture_sd,
            "srm_alpha": self.srm_alpha,
            "max_samples": self.max_samples,
            "max_duration_seconds": self.max_duration_seconds,
            "idle_timeout_seconds": self.idle_timeout_seconds,
            "expected_samples": self.expected_samples,
            "covariate": self.covariate,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ABSpec:
        return spec_from_command(data)


def _problem(spec: ABSpec) -> str | None:
    arm_ids = [a.arm_id for a in spec.arms]
    names = [m.name for m in spec.metrics]
    checks = [
        (len(arm_ids) >= 2, "needs at least two arms"),
        (len(set(arm_ids)) == len(arm_ids), "arm ids must be unique"),
        (all(a.weight > 0.0 for a in spec.arms), "arm weights must be positive"),
        (bool(names) and len(set(names)) == len(names), "needs uniquely named metrics"),
        (0.0 < spec.alpha < 1.0 and 0.0 < spec.srm_alpha < 1.0, "alpha must be in (0, 1)"),
        (spec.min_samples >= 2, "min_samples must be at least 2"),
        (spec.control_arm is None or spec.control_arm in arm_ids, "control_arm is not an arm"),
        (spec.correction in ("holm", "bh"), "correction must be holm or bh"),
        (spec.mixture_sd > 0.0, "mixture_sd must be positive"),
        (spec.max_samples is None or spec.max_samples >= spec.min_samples, "max < min samples"),
        (_positive(spec.max_duration_seconds), "max_duration_seconds must be positive"),
        (_positive(spec.idle_timeout_seconds), "idle_timeout_seconds must be positive"),
        (spec.expected_samples is None or spec.expected_samples >= 2, "expected_samples < 2"),
        (spec.covariate is None or spec.covariate not in names, "covariate is also a metric"),
    ]
    return next((message for ok, message in checks if not ok), None)


def _positive(seconds: int | None) -> bool:
    return seconds is None or seconds > 0


def spec_from_command(record: Mapping[str, Any]) -> ABSpec:
    """Build from an ABTestCommand record (or ``ABSpec.to_dict()``); extra keys are ignored."""
    metrics = tuple(MetricSpec.from_dict(m) for m in record.get("metrics") or ())
    optional = {
        k: record[k]
        for k in ("alpha", "min_samples", "control_arm", "correction", "mixture_sd")
        + ("srm_alpha", "max_samples", "max_duration_seconds", "idle_timeout_seconds")
        + ("expected_samples", "covariate")
        if k in record
    }
    return ABSpec(
        test_id=str(record["test_id"]),
        arms=tuple(ArmSpec.from_dict(a) for a in record.get("arms") or ()),
        metrics=metrics or (MetricSpec(SUCCESS, "binary"),),
        **optional,
    )
