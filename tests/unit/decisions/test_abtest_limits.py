"""Time limits of an A/B test: maximum duration and idle timeout (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.agents import T0, command_message, create_test, outcome, outcome_message
from tests.unit.decisions.test_abtest_state import created, parts
from tonebridge.decisions import abtest_state as ab_state
from tonebridge.decisions.abtest_limits import end_by_time, reached, span
from tonebridge.decisions.abtest_state import ABTestState
from tonebridge.errors import InvalidEventError

DAY_S = 86_400
T0_MS = int(T0.timestamp() * 1000)


def at_ms(**delta: float) -> int:
    return T0_MS + int(timedelta(**delta).total_seconds() * 1000)


def with_outcome(state: ABTestState, minutes: float, n: int = 0) -> ABTestState:
    record = outcome(n=n, at=T0 + timedelta(minutes=minutes))
    new, effects, rejected = ab_state.apply(state, parts(outcome_message([record], n + 1)))
    assert new is not None and effects.verdict is None and not rejected
    return new


def test_a_test_without_limits_never_ends_by_time() -> None:
    assert reached(created(), at_ms(days=10_000)) is None


def test_an_idle_test_ends_with_no_traffic_at_the_moment_its_timeout_passed() -> None:
    state = created(idle_timeout_seconds=DAY_S)
    assert state.started_ms == T0_MS
    assert end_by_time(state, at_ms(days=1) - 1) == (state, ab_state.NOTHING)
    ended, effects = end_by_time(state, at_ms(days=3))  # the check ran late
    verdict = effects.verdict
    assert verdict is not None and ended.status == "stopped" and ended.verdict == verdict
    assert (verdict["decision"], verdict["event_time"]) == ("no_traffic", at_ms(days=1))
    assert verdict["reason"] == "no outcome since the start for 1 d"
    assert verdict["event_id"] == ab_state.effect_id("ab-1", "no_traffic")
    assert verdict["samples"] == {"control": 0, "treatment": 0}
    assert end_by_time(ended, at_ms(days=9)) == (ended, ab_state.NOTHING)  # once


def test_idleness_counts_from_the_latest_outcome() -> None:
    state = with_outcome(created(idle_timeout_seconds=3600), minutes=50)
    assert state.last_outcome_ms == at_ms(minutes=50)
    assert reached(state, at_ms(minutes=100)) is None  # 60 min after the start: not idle
    ending = reached(state, at_ms(minutes=200))
    assert ending is not None and ending.at_ms == at_ms(minutes=110)
    assert ending.reason == "no outcome since the last one for 1 h"
    _, effects = end_by_time(state, at_ms(minutes=200))
    assert effects.verdict is not None and effects.verdict["samples"]["treatment"] == 1


def test_an_old_outcome_does_not_move_idleness_back() -> None:
    state = with_outcome(with_outcome(created(idle_timeout_seconds=60), 30), 10, n=1)
    assert state.last_outcome_ms == at_ms(minutes=30)


def test_a_test_past_its_maximum_duration_expires_though_it_has_traffic() -> None:
    state = created(max_duration_seconds=7200, idle_timeout_seconds=DAY_S)
    state = with_outcome(state, minutes=119)
    ending = reached(state, at_ms(hours=5))
    assert ending is not None
    assert (ending.decision, ending.at_ms) == ("expired", at_ms(hours=2))
    assert ending.reason == "no decision within the maximum duration of 2 h"


def test_the_first_limit_reached_decides() -> None:
    state = created(max_duration_seconds=7 * DAY_S, idle_timeout_seconds=DAY_S)
    ending = reached(state, at_ms(days=30))
    assert ending is not None and (ending.decision, ending.at_ms) == ("no_traffic", at_ms(days=1))


def test_a_finished_test_refuses_later_outcomes() -> None:
    ended, _ = end_by_time(created(idle_timeout_seconds=60), at_ms(hours=1))
    late = outcome(n=5, at=T0 + timedelta(hours=2))
    _, effects, rejected = ab_state.apply(ended, parts(outcome_message([late], 9)))
    assert effects.verdict is None and "finished (stopped)" in str(rejected[0][1].error)


def test_the_state_keeps_its_times_through_json() -> None:
    state = with_outcome(created(idle_timeout_seconds=60, max_duration_seconds=600), 3)
    again = ABTestState.from_json(state.to_json())
    assert (again.started_ms, again.last_outcome_ms) == (T0_MS, at_ms(minutes=3))
    assert again.spec.idle_timeout_seconds == 60 and again.spec.max_duration_seconds == 600


@pytest.mark.parametrize("field", ["max_duration_seconds", "idle_timeout_seconds"])
def test_a_limit_must_be_positive(field: str) -> None:
    message = command_message(create_test(**{field: 0}), 0)
    _, _, rejected = ab_state.apply(None, parts(message))
    assert f"{field} must be positive" in str(rejected[0][1].error)
    with pytest.raises(InvalidEventError, match=field):
        ab_state.spec_from_command({**create_test(), field: -5})


@pytest.mark.parametrize(
    ("seconds", "text"), [(86_400, "1 d"), (14 * 86_400, "14 d"), (5400, "90 min"), (45, "45 s")]
)
def test_span_reads_in_whole_units(seconds: int, text: str) -> None:
    assert span(seconds) == text
