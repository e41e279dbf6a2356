"""How close each retraining policy is to firing for one model (pure; ``GET /policies``).

:func:`progress` judges what :func:`~tonebridge.decisions.retraining.evaluate` would, and
says why a met threshold does not fire yet: the policy is disarmed, cooling down or not due.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from tonebridge.decisions.retraining import (
    CorrectionRateAbove,
    MeanRatingBelow,
    Memory,
    MinCorrections,
    Observation,
    Policy,
    Schedule,
    rate_check,
    rearm_at,
)

FiresWhen = Literal["at_least", "below", "above", "on_lost_test"]


@dataclass(frozen=True, slots=True)
class Progress:
    """How close one policy is to firing for one model, at event time ``as_of_ms``.

    ``value`` (of ``measure``) is compared with ``threshold`` as ``fires_when`` says, on at
    least ``min_samples`` events; ``met`` says whether the comparison holds now. The policy
    then fires on the model's next message unless it is disarmed (a rate policy that fired,
    until its value is back at ``rearm_at``), cooling down (until ``cooldown_until_ms``) or,
    for a schedule, not due (before ``due_ms``).
    """

    policy: str
    model_id: str
    as_of_ms: int
    fires_when: FiresWhen = "on_lost_test"
    measure: str | None = None  # corrections, new_samples, mean_rating, correction_rate
    value: float | None = None
    threshold: float | None = None
    samples: int = 0
    min_samples: int = 0
    met: bool = False
    armed: bool = True
    rearm_at: float | None = None
    due_ms: int | None = None
    last_fired_ms: int | None = None
    cooldown_until_ms: int | None = None

    @property
    def cooling(self) -> bool:
        until = self.cooldown_until_ms
        return until is not None and self.as_of_ms < until


def progress(policy: Policy, obs: Observation, memory: Memory) -> Progress:
    """Where ``policy`` stands for ``obs``'s model: what :func:`evaluate` would judge.

    ``obs`` must carry the policy's window (rate policies).
    """
    fired = memory.last_fired_ms
    cooled = None if fired is None else fired + policy.cooldown_ms
    base = Progress(
        policy.name, obs.model_id, obs.now_ms, last_fired_ms=fired, cooldown_until_ms=cooled
    )
    if isinstance(policy, MeanRatingBelow | CorrectionRateAbove):
        return _rate_progress(policy, obs, replace(base, armed=memory.armed))
    if isinstance(policy, MinCorrections):
        return replace(
            base, fires_when="at_least", measure="corrections", value=obs.new_corrections,
            threshold=policy.threshold, samples=obs.new_samples,
            met=obs.new_corrections >= policy.threshold,
        )  # fmt: skip
    if isinstance(policy, Schedule):
        return _schedule_progress(policy, obs, base)
    return base


def _rate_progress(
    policy: MeanRatingBelow | CorrectionRateAbove, obs: Observation, base: Progress
) -> Progress:
    value, breached, _ = rate_check(policy, obs)
    below = isinstance(policy, MeanRatingBelow)
    return replace(
        base, fires_when="below" if below else "above",
        measure="mean_rating" if below else "correction_rate", value=value,
        threshold=policy.threshold, samples=obs.windows[policy.window][0],
        min_samples=policy.min_samples, met=breached, rearm_at=rearm_at(policy),
    )  # fmt: skip


def _schedule_progress(policy: Schedule, obs: Observation, base: Progress) -> Progress:
    due = (obs.since_ms // policy.every_ms + 1) * policy.every_ms  # the next boundary
    needed = max(policy.min_new_samples, 1)
    return replace(
        base, fires_when="at_least", measure="new_samples", value=obs.new_samples,
        threshold=needed, samples=obs.new_samples, due_ms=due,
        met=obs.now_ms >= due and obs.new_samples >= needed,
    )  # fmt: skip
