"""Turn an A/B test's state into a decision: continue, or a verdict to publish.

Order of checks, each only on always-valid statistics:

1. sample-ratio mismatch (sequential Dirichlet-multinomial test at ``spec.srm_alpha``): the
   assignment is broken, so no metric can be trusted. Checked from the first assignment on,
   since an arm that gets no traffic would never reach ``min_samples``;
2. guardrail violation: a guardrail metric significantly worse for a treatment (Holm across
   guardrails): roll back to the control;
3. nothing more before every arm has ``min_samples`` assignments;
4. winner: on the primary metrics (Holm or Benjamini-Hochberg across arms and metrics), a
   treatment significantly better on some metric and worse on none; or the control, when every
   treatment is significantly worse;
5. no difference: every arm reached ``max_samples``, or every primary metric's confidence
   sequence lies inside its ``equivalence_margin``;
6. otherwise continue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tonebridge.stats.abtests import ABState, Comparison, Look, fold_look, look
from tonebridge.stats.multiple import adjust
from tonebridge.stats.sequential import RunningBound, bound_interval
from tonebridge.stats.spec import ABSpec
from tonebridge.stats.verdict import Decision, DecisionKind, MetricRow

Direction = Literal["better", "worse", "none"]


@dataclass(frozen=True, slots=True)
class _Raw:
    comparison: Comparison
    p_value: float
    ci: tuple[float, float] | None


def _raw(state: ABState, comparison: Comparison) -> _Raw:
    bound = state.bounds.get(comparison.arm, {}).get(comparison.metric.name, RunningBound())
    seq = comparison.sequential
    if seq is None:
        ci = (
            None if bound.ci_low is None or bound.ci_high is None else (bound.ci_low, bound.ci_high)
        )
        return _Raw(comparison, bound.p_value, ci)
    return _Raw(comparison, min(bound.p_value, seq.p_value), bound_interval(bound, seq))


def _direction(raw: _Raw, adjusted: float, alpha: float) -> Direction:
    if adjusted >= alpha or raw.ci is None:
        return "none"
    low, high = raw.ci
    seq = raw.comparison.sequential
    up = low > 0.0 or (high >= 0.0 and seq is not None and seq.effect > 0.0)
    return "better" if up == raw.comparison.metric.higher_is_better else "worse"


def _rows(spec: ABSpec, raws: Sequence[_Raw], guardrail: bool) -> list[MetricRow]:
    family = [r for r in raws if r.comparison.metric.guardrail == guardrail]
    method = "holm" if guardrail else spec.correction
    adjusted = adjust([r.p_value for r in family], method) if family else []
    return [
        MetricRow.build(r.comparison, r.p_value, a, r.ci, _direction(r, a, spec.alpha))
        for r, a in zip(family, adjusted, strict=True)
    ]


def _best(rows: Sequence[MetricRow]) -> MetricRow:
    return min(rows, key=lambda r: (r.adjusted_p_value, -abs(r.effect or 0.0)))


def _winner(spec: ABSpec, primary: Sequence[MetricRow]) -> tuple[str, MetricRow] | None:
    better = {
        a: [r for r in primary if r.arm == a and r.direction == "better"] for a in spec.treatments
    }
    worse = {
        a: [r for r in primary if r.arm == a and r.direction == "worse"] for a in spec.treatments
    }
    candidates = [row for arm in spec.treatments if not worse[arm] for row in better[arm]]
    if candidates:
        row = _best(candidates)
        return row.arm, row
    if all(worse[arm] and not better[arm] for arm in spec.treatments):
        return spec.control, _best([r for rows in worse.values() for r in rows])
    return None


def _equivalent(spec: ABSpec, primary: Sequence[MetricRow]) -> bool:
    if not primary:
        return False
    for row in primary:
        margin = next(m.equivalence_margin for m in spec.metrics if m.name == row.metric)
        if margin is None or row.ci_low is None or row.ci_high is None:
            return False
        if row.ci_low < -margin or row.ci_high > margin:
            return False
    return True


def _kind_and_row(
    spec: ABSpec, state: ABState, current: Look, rows: tuple[list[MetricRow], list[MetricRow]]
) -> tuple[DecisionKind, str | None, MetricRow | None, str]:
    guard, primary = rows
    if min(state.srm_p_value, current.srm.p_value) < spec.srm_alpha:
        return "sample_ratio_mismatch", None, None, "traffic split differs from the weights"
    violations = [r for r in guard if r.direction == "worse"]
    if violations:
        row = _best(violations)
        return "guardrail_violation", spec.control, row, f"{row.arm} is worse on {row.metric}"
    if min(current.srm.counts) < spec.min_samples:
        return "continue", None, None, f"fewer than {spec.min_samples} samples in an arm"
    won = _winner(spec, primary)
    if won is not None:
        return "winner", won[0], won[1], f"{won[0]} wins on {won[1].metric}"
    if spec.max_samples is not None and min(current.srm.counts) >= spec.max_samples:
        return "no_difference", None, None, f"{spec.max_samples} samples per arm, no winner"
    if _equivalent(spec, primary):
        return "no_difference", None, None, "every effect is within its equivalence margin"
    return "continue", None, None, "no significant difference yet"


def decide_look(spec: ABSpec, state: ABState, current: Look) -> Decision:
    raws = [_raw(state, c) for c in current.comparisons]
    guard, primary = _rows(spec, raws, True), _rows(spec, raws, False)
    kind, arm, row, reason = _kind_and_row(spec, state, current, (guard, primary))
    srm_p = min(state.srm_p_value, current.srm.p_value)
    return Decision.build(spec, kind, arm, row, reason, (*guard, *primary), current.srm, srm_p)


def decide(spec: ABSpec, state: ABState) -> Decision:
    """The decision on the current state, its running bounds and one look now (pure)."""
    return decide_look(spec, state, look(spec, state))


def evaluate(spec: ABSpec, state: ABState) -> tuple[ABState, Decision]:
    """Look once: the state with this look folded into its bounds, and the decision."""
    current = look(spec, state)
    return fold_look(state, current), decide_look(spec, state, current)
