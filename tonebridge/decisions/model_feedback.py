"""One model's feedback state, as the feedback agent keeps it in its table (pure).

The value of table key ``model_id``: windowed statistics of the model and of each
transformation type, the count since the model's last training, the retraining policies'
memory, and the offset marks that make applying a message exactly once. Its size does not grow
with the number of events (bounded windows, fixed counters), nor with what clients send: at
most ``max_types`` transformation types keep their own statistics, in the order they first
appeared; later ones are counted under :data:`OTHER`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from tonebridge.decisions import policy_progress, retraining
from tonebridge.decisions.retraining import Memory, Observation, Policy, Trigger, Window
from tonebridge.decisions.watermarks import advance, is_applied
from tonebridge.stats import since, windows
from tonebridge.stats.feedback import FeedbackSample, FeedbackSummary
from tonebridge.stats.since import SinceCount
from tonebridge.stats.windows import WindowedFeedback, WindowedSummary


@dataclass(frozen=True, slots=True)
class ModelFeedback:
    overall: WindowedFeedback = field(default_factory=windows.initial)
    by_type: Mapping[str, WindowedFeedback] = field(default_factory=dict)
    since: SinceCount | None = None  # None until the first event sets the start
    memory: Mapping[str, Memory] = field(default_factory=dict)  # per policy name
    marks: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        data = {
            "overall": self.overall.to_dict(),
            "by_type": {k: v.to_dict() for k, v in self.by_type.items()},
            "since": None if self.since is None else self.since.to_dict(),
            "memory": {k: v.to_dict() for k, v in self.memory.items()},
            "marks": dict(self.marks),
        }
        # orjson (written once per model per batch): every number here is an int or a finite
        # float (an edit-distance sum), which json reads back unchanged; it would write NaN as null
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, payload: bytes) -> ModelFeedback:
        data = json.loads(payload)
        count = data["since"]
        return cls(
            windows.WindowedFeedback.from_dict(data["overall"]),
            {k: windows.WindowedFeedback.from_dict(v) for k, v in data["by_type"].items()},
            None if count is None else SinceCount.from_dict(count),
            {k: Memory.from_dict(v) for k, v in data["memory"].items()},
            {k: int(v) for k, v in data["marks"].items()},
        )


Sample = tuple[str, FeedbackSample]  # (transformation type, sample)
OTHER = "other"  # where transformation types beyond the cap are counted
MAX_TYPES = 50  # the default cap (settings: FEEDBACK_MAX_TRANSFORMATION_TYPES)


@dataclass(frozen=True, slots=True)
class Fired:
    """A policy's trigger, with the feedback it answers (from ``since_ms``) and when (``at_ms``)."""

    trigger: Trigger
    policy: Policy
    since_ms: int
    at_ms: int


def fold(
    state: ModelFeedback,
    samples: Sequence[Sample],
    source: str,
    offset: int,
    *,
    windows_too: bool = True,
    max_types: int = MAX_TYPES,
) -> ModelFeedback:
    """Apply one message's samples of this model; a message already applied changes nothing.

    ``windows_too=False`` leaves the windows to a later :func:`settle` of the same samples,
    which is cheaper for a batch of many small messages.
    """
    if is_applied(state.marks, source, offset):
        return state
    marks = advance(state.marks, source, offset)
    if not samples:
        return replace(state, marks=marks)
    plain = [s for _, s in samples]
    count = state.since or since.initial(min(s.event_time_ms for s in plain))
    folded = replace(state, since=since.add_many(count, plain), marks=marks)
    return settle(folded, samples, max_types) if windows_too else folded


def settle(
    state: ModelFeedback, samples: Sequence[Sample], max_types: int = MAX_TYPES
) -> ModelFeedback:
    """Fold ``samples`` into the windows of the model and of each transformation type."""
    if not samples:
        return state
    by_type: dict[str, list[FeedbackSample]] = defaultdict(list)
    for kind, sample in samples:
        by_type[kind].append(sample)
    types = dict(state.by_type)
    by_type = _capped(by_type, types.keys(), max_types)
    for kind, group in by_type.items():
        types[kind] = windows.add_many(types.get(kind) or windows.initial(), group)
    overall = windows.add_many(state.overall, [s for _, s in samples])
    return replace(state, overall=overall, by_type=types)


def _capped(
    by_type: dict[str, list[FeedbackSample]], known: Iterable[str], max_types: int
) -> dict[str, list[FeedbackSample]]:
    """``by_type`` with the types past the first ``max_types`` merged under :data:`OTHER`."""
    kept = {kind for kind in known if kind != OTHER}
    capped: dict[str, list[FeedbackSample]] = defaultdict(list)
    for kind, group in by_type.items():
        if kind != OTHER and kind not in kept and len(kept) < max_types:
            kept.add(kind)
        capped[kind if kind in kept else OTHER].extend(group)
    return capped


def needs_windows(rules: Sequence[Policy], model_id: str) -> bool:
    """Whether a policy for this model judges windowed rates (else counts suffice)."""
    return any(p.applies_to(model_id) and retraining.uses_windows(p) for p in rules)


def observation(model_id: str, state: ModelFeedback, with_windows: bool) -> Observation | None:
    """What the retraining policies see; None before the first event."""
    count = state.since
    if count is None or count.newest_ms is None:
        return None
    return Observation(
        model_id=model_id,
        now_ms=count.newest_ms,
        since_ms=count.since_ms,
        new_samples=count.count,
        new_corrections=count.corrected,
        windows=_windows(state) if with_windows else {},
    )


def _windows(state: ModelFeedback) -> dict[Window, tuple[int, float | None, float | None]]:
    summary: WindowedSummary = windows.result(state.overall)
    return {
        "last_hour": _rates(summary.last_hour),
        "last_day": _rates(summary.last_day),
        "all_time": _rates(summary.all_time),
    }


def _rates(summary: FeedbackSummary) -> tuple[int, float | None, float | None]:
    return summary.count, summary.mean_rating, summary.correction_rate


def apply_policies(
    model_id: str, state: ModelFeedback, rules: Sequence[Policy], *, with_windows: bool = True
) -> tuple[ModelFeedback, list[Fired]]:
    """Evaluate every policy; on a trigger, the count since the last training restarts.

    ``with_windows`` must be true when a rate policy applies to the model (its windows must
    then be folded message by message, ``fold(windows_too=True)``).
    """
    obs = observation(model_id, state, with_windows) if rules else None
    if obs is None:
        return state, []
    memory = dict(state.memory)
    fired: list[Fired] = []
    for rule in rules:
        memory[rule.name], trigger = retraining.evaluate(rule, obs, memory.get(rule.name, Memory()))
        if trigger is not None:
            fired.append(Fired(trigger, rule, obs.since_ms, obs.now_ms))
    count = since.initial(obs.now_ms + 1) if fired else state.since
    return replace(state, memory=memory, since=count), fired


def progress(
    model_id: str, state: ModelFeedback, rules: Sequence[Policy]
) -> list[policy_progress.Progress]:
    """Where each policy that applies to the model stands; none before its first event.

    Right after a policy fired the count restarts empty: the policies then stand at the
    start of the new count (``as_of_ms`` is that start).
    """
    count = state.since
    if count is None:
        return []
    obs = Observation(
        model_id=model_id,
        now_ms=count.since_ms if count.newest_ms is None else count.newest_ms,
        since_ms=count.since_ms,
        new_samples=count.count,
        new_corrections=count.corrected,
        windows=_windows(state),
    )
    memory = state.memory
    return [
        policy_progress.progress(rule, obs, memory.get(rule.name, Memory()))
        for rule in rules
        if rule.applies_to(model_id)
    ]


def summary(state: ModelFeedback, now_ms: int | None = None) -> dict[str, Any]:
    """The model's statistics as plain data: overall and per transformation type."""
    return {
        "overall": windows.result(state.overall, now_ms).to_dict(),
        "by_type": {k: windows.result(v, now_ms).to_dict() for k, v in state.by_type.items()},
    }
