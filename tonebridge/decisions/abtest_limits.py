"""When an A/B test ends by time (pure): it ran too long, or it had no traffic.

A test's ``max_duration_seconds`` counts from its create command's event time; its
``idle_timeout_seconds`` from its latest counted outcome's event time, or from the start
while it has none. A test ended so gets a verdict with the decision ``expired`` or
``no_traffic`` and the reason, and is finished (status ``stopped``): it refuses later
outcomes, and its verdict completes its ``ab_tests`` row, so it no longer holds back a later
promotion of its model name.

``now`` is the caller's: a test that gets no outcome at all sees no event whose time could
end it, so the A/B agent's timer reads the clock. The verdict's event time is the moment the
limit was reached, not ``now``, and its id is derived from the test id: however late the
check runs, and on every replay, it is the same verdict, which consumers count once.
Outcomes that reach the test before the check count, even past a limit's moment: a limit
bounds the wait for evidence, not the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tonebridge.decisions.abtest_state import NOTHING, ABTestState, Effects, effect_id, finished

EndingKind = Literal["expired", "no_traffic"]
_UNITS = ((86_400, "d"), (3_600, "h"), (60, "min"))


@dataclass(frozen=True, slots=True)
class Ending:
    """A time limit of a test: which, when it is reached (epoch ms) and why."""

    decision: EndingKind
    at_ms: int
    reason: str


def reached(state: ABTestState, now_ms: int) -> Ending | None:
    """The first of the running test's time limits reached by ``now_ms``, if any."""
    if state.status != "running" or state.started_ms is None:
        return None
    endings = [e for e in (_expiry(state), _idleness(state)) if e and e.at_ms <= now_ms]
    return min(endings, key=lambda ending: ending.at_ms, default=None)


def end_by_time(state: ABTestState, now_ms: int) -> tuple[ABTestState, Effects]:
    """The test ended by the limit it reached by ``now_ms`` and its verdict; else unchanged."""
    ending = reached(state, now_ms)
    if ending is None:
        return state, NOTHING
    test_id = state.spec.test_id
    verdict = {
        "event_id": effect_id(test_id, ending.decision),
        "event_time": ending.at_ms,
        "test_id": test_id,
        "decision": ending.decision,
        "samples": {arm: s.assigned for arm, s in state.stats.arms.items()},
        "reason": ending.reason,
    }
    return finished(state, "stopped", verdict), Effects(verdict=verdict)


def _expiry(state: ABTestState) -> Ending | None:
    limit, start = state.spec.max_duration_seconds, state.started_ms
    if limit is None or start is None:
        return None
    reason = f"no decision within the maximum duration of {span(limit)}"
    return Ending("expired", start + limit * 1000, reason)


def _idleness(state: ABTestState) -> Ending | None:
    limit, last = state.spec.idle_timeout_seconds, state.last_outcome_ms
    since = last if last is not None else state.started_ms
    if limit is None or since is None:
        return None
    what = "no outcome since the start" if last is None else "no outcome since the last one"
    return Ending("no_traffic", since + limit * 1000, f"{what} for {span(limit)}")


def span(seconds: int) -> str:
    """``86400`` -> ``1 d``, ``5400`` -> ``90 min``, ``45`` -> ``45 s``: whole units only."""
    for size, unit in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
