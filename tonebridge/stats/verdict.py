"""A decision and its evidence, convertible to the fields of an ABTestVerdict record."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tonebridge.stats.abtests import Comparison
from tonebridge.stats.spec import ABSpec
from tonebridge.stats.srm import SrmResult

DecisionKind = Literal[
    "continue", "winner", "no_difference", "guardrail_violation", "sample_ratio_mismatch"
]


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One treatment arm against the control on one metric; p-values are always-valid."""

    arm: str
    metric: str
    guardrail: bool
    control_n: int
    treatment_n: int
    control_value: float | None
    treatment_value: float | None
    effect: float | None  # treatment minus control
    ci_low: float | None  # running intersection of the confidence sequence at level alpha
    ci_high: float | None
    p_value: float  # running minimum
    adjusted_p_value: float  # Holm (guardrails, and primaries by default) or BH
    direction: Literal["better", "worse", "none"]  # significant direction for the treatment
    fixed_p_value: float | None  # the fixed-horizon test's, for reference only
    test: str | None = None  # the always-valid test: "msprt" or "horizon"

    @classmethod
    def build(
        cls,
        c: Comparison,
        p_value: float,
        adjusted: float,
        ci: tuple[float, float] | None,
        direction: Literal["better", "worse", "none"],
    ) -> MetricRow:
        effect = c.sequential.effect if c.sequential is not None else None
        return cls(
            c.arm, c.metric.name, c.metric.guardrail, c.control_n, c.treatment_n,
            c.control_value, c.treatment_value, effect,
            ci[0] if ci else None, ci[1] if ci else None, p_value, adjusted, direction,
            c.fixed.p_value if c.fixed is not None else None,
            c.sequential.test if c.sequential is not None else None,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Decision:
    test_id: str
    kind: DecisionKind
    arm: str | None  # the winner; for guardrail_violation the control to roll back to
    model_id: str | None
    metric: str | None  # the metric that decided
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_values: dict[str, float]  # "arm/metric" -> adjusted always-valid p; "srm" -> SRM p
    samples: dict[str, int]  # assignments per arm
    reason: str
    rows: tuple[MetricRow, ...]
    srm: SrmResult
    test: str | None = None  # the always-valid test that decided: "msprt" or "horizon"

    @property
    def is_final(self) -> bool:
        return self.kind != "continue"

    @classmethod
    def build(
        cls,
        spec: ABSpec,
        kind: DecisionKind,
        arm: str | None,
        row: MetricRow | None,
        reason: str,
        rows: tuple[MetricRow, ...],
        srm: SrmResult,
        srm_p_value: float,
    ) -> Decision:
        p_values = {f"{r.arm}/{r.metric}": r.adjusted_p_value for r in rows}
        p_values["srm"] = srm_p_value
        return cls(
            spec.test_id, kind, arm, spec.model_of(arm) if arm is not None else None,
            row.metric if row else None, row.effect if row else None,
            row.ci_low if row else None, row.ci_high if row else None, p_values,
            {a.arm_id: n for a, n in zip(spec.arms, srm.counts, strict=True)},
            reason, rows, srm, row.test if row else None,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        finite: dict[str, Any] = _finite(asdict(self))
        return finite

    def verdict_fields(self) -> dict[str, Any]:
        """ABTestVerdict fields except ``event_id`` and ``event_time`` (the producer's)."""
        if not self.is_final:
            msg = "a test that continues has no verdict"
            raise ValueError(msg)
        return {
            "test_id": self.test_id,
            "decision": self.kind,
            "winner_arm": self.arm,
            "winner_model_id": self.model_id,
            "metric": self.metric,
            "effect": _finite(self.effect),
            "ci_low": _finite(self.ci_low),
            "ci_high": _finite(self.ci_high),
            "p_values": dict(self.p_values),
            "samples": dict(self.samples),
            "results_json": json.dumps(self.to_dict(), allow_nan=False, sort_keys=True),
            "reason": self.reason if self.test is None else f"{self.reason} ({self.test} test)",
        }


def _finite(value: Any) -> Any:
    """JSON and Avro doubles here must be finite: NaN and infinities become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
