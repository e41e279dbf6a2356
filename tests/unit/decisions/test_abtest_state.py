from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.agents import command_message, create_test, outcome, outcome_message, stop_test
from tonebridge.decisions import abtest_state as ab_state
from tonebridge.decisions.abtest_state import ABTestState, Part
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.messages import Message
from tonebridge.topics.spec import read_merged

SOURCES = (ABTEST_COMMANDS_TOPIC, INFERENCE_OUTCOMES_TOPIC)  # as the A/B agents read them
AT = datetime(2026, 1, 5, 9, 0, 0, 123_000, tzinfo=UTC)  # event times with milliseconds


def parts(*messages: Message) -> list[Part]:
    return [(origin, read_merged(value, SOURCES).items) for origin, value in messages]


def created(test_id: str = "ab-1", **options: Any) -> ABTestState:
    state, effects, rejected = ab_state.apply(
        None, parts(command_message(create_test(test_id, **options), 0))
    )
    assert state is not None and effects.verdict is None and not rejected
    return state


def outcomes(
    rates: tuple[float, float], n: int, start: int = 0, **extra: Any
) -> list[dict[str, Any]]:
    """``n`` outcomes per arm; a deterministic share ``rate`` of them succeed."""
    records = []
    for i in range(start, start + n):
        for arm, rate in zip(("control", "treatment"), rates, strict=True):
            records.append(outcome(arm=arm, n=i, success=(i % 100) < rate * 100, **extra))
    return records


def feed(
    state: ABTestState, records: Sequence[dict[str, Any]], offset: int
) -> tuple[ABTestState, Any, Any]:
    new, effects, rejected = ab_state.apply(state, parts(outcome_message(records, offset)))
    assert new is not None
    return new, effects, rejected


def test_a_clear_winner_is_decided_and_ends_the_test() -> None:
    state = created()
    effects = None
    for offset in range(1, 40):
        state, effects, _ = feed(state, outcomes((0.2, 0.8), 10, start=10 * offset), offset)
        if effects.verdict:
            break
    assert effects is not None and effects.verdict is not None
    verdict = effects.verdict
    assert (verdict["decision"], verdict["winner_arm"]) == ("winner", "treatment")
    assert verdict["winner_model_id"] == "ab-1-new"
    assert verdict["event_id"] == ab_state.effect_id("ab-1", "verdict")
    assert effects.losers == ("ab-1-old",) and effects.rollback == ()
    assert state.status == "decided"
    assert state.stats.arms == {} and state.stats.bounds == {}  # the arm state is dropped
    late = outcomes((0.2, 0.8), 10)
    later, again, rejected = feed(state, late, offset + 1)
    assert again.verdict is None and len(rejected) == len(late)
    assert "A/B test 'ab-1' is finished (decided)" in rejected[0][1].reason()
    assert later.stats == state.stats and later.marks != state.marks


def test_no_decision_before_min_samples() -> None:
    state, effects, _ = feed(created(min_samples=50), outcomes((0.0, 1.0), 20), 1)
    assert effects.verdict is None and state.status == "running"
    assert {a: s.assigned for a, s in state.stats.arms.items()} == {"control": 20, "treatment": 20}


def test_a_replayed_message_changes_nothing() -> None:
    state, _, _ = feed(created(), outcomes((0.5, 0.5), 3), 1)
    again, effects, rejected = ab_state.apply(
        state, parts(outcome_message(outcomes((0.5, 0.5), 3), 1))
    )
    assert again is state and effects.verdict is None and not rejected


def test_outcomes_of_an_unknown_test_are_rejected() -> None:
    state, effects, rejected = ab_state.apply(
        None, parts(outcome_message(outcomes((0.5, 0.5), 2), 1))
    )
    assert state is None and effects.verdict is None
    assert len(rejected) == 4
    assert "unknown A/B test" in rejected[0][1].reason()


def test_an_outcome_for_an_arm_the_test_lacks_is_rejected_alone() -> None:
    records = [
        outcome(arm="control", n=1),
        outcome(arm="shadow", n=2),
        outcome(arm="treatment", n=3),
    ]
    state, _, rejected = feed(created(), records, 1)
    assert [r.index for _, r in rejected] == [1]
    assert "'shadow' is not an arm" in rejected[0][1].reason()
    assert sum(s.assigned for s in state.stats.arms.values()) == 2


def test_a_second_create_is_ignored_and_a_stop_ends_the_test() -> None:
    state = created()
    same, effects, _ = ab_state.apply(
        state, parts(command_message(create_test(min_samples=999), 1))
    )
    assert same is not None and same.spec == state.spec and effects.verdict is None
    state, _, _ = feed(same, outcomes((0.5, 0.5), 2), 2)
    stopped, effects, _ = ab_state.apply(state, parts(command_message(stop_test(), 3)))
    assert stopped is not None and stopped.status == "stopped"
    assert effects.verdict is not None and effects.verdict["decision"] == "stopped"
    assert effects.verdict["samples"] == {"control": 2, "treatment": 2}


def test_a_guardrail_breach_asks_to_roll_the_treatment_back() -> None:
    state = created(guardrail="latency_ms")
    effects = None
    for offset in range(1, 40):
        records = [
            outcome(arm=arm, n=100 * offset + i, success=True, metrics={"latency_ms": base + i % 7})
            for i in range(10)
            for arm, base in (("control", 100.0), ("treatment", 400.0))
        ]
        state, effects, _ = feed(state, records, offset)
        if effects.verdict:
            break
    assert effects is not None and effects.verdict is not None
    assert effects.verdict["decision"] == "guardrail_violation"
    assert effects.rollback == ("ab-1-new",) == effects.losers


def test_the_value_survives_its_changelog_encoding_and_views_as_json() -> None:
    state, _, _ = feed(created(), outcomes((0.5, 0.5), 5), 1)
    assert ABTestState.from_json(state.to_json()) == state
    view = json.loads(json.dumps(ab_state.view(state)))
    assert view["status"] == "running"
    assert view["arms"]["control"]["assigned"] == 5


def test_an_outcome_naming_another_model_than_its_arm_serves_is_rejected() -> None:
    records = [outcome(arm="control", n=1), {**outcome(arm="treatment", n=2), "model_id": "x"}]
    state, _, rejected = feed(created(), records, 1)
    [(_, reject)] = rejected
    assert reject.index == 1
    assert "model 'x' for arm 'treatment'" in reject.reason()
    assert "serves model 'ab-1-new'" in reject.reason()
    assert {a: s.assigned for a, s in state.stats.arms.items()} == {"control": 1, "treatment": 0}


def test_a_stopped_test_keeps_no_arm_state_and_refuses_late_outcomes_and_a_new_create() -> None:
    state, _, _ = feed(created(), outcomes((0.5, 0.5), 2), 1)
    stopped, _, _ = ab_state.apply(state, parts(command_message(stop_test(), 2)))
    assert stopped is not None and stopped.stats.arms == {}
    assert stopped.verdict is not None and stopped.verdict["samples"] == {
        "control": 2, "treatment": 2,
    }  # fmt: skip
    assert ABTestState.from_json(stopped.to_json()) == stopped
    again, effects, _ = ab_state.apply(stopped, parts(command_message(create_test(), 3)))
    assert again is not None and again.status == "stopped" and effects.verdict is None
    _, _, rejected = feed(stopped, outcomes((0.5, 0.5), 1), 4)
    assert [r.reason() for _, r in rejected] == [
        "event 0 of the message: A/B test 'ab-1' is finished (stopped): "
        "a late outcome is not counted",
        "event 1 of the message: A/B test 'ab-1' is finished (stopped): "
        "a late outcome is not counted",
    ]


def test_outcomes_before_a_stop_in_the_same_batch_count_and_those_after_are_late() -> None:
    state = created()
    batch = parts(
        outcome_message([outcome(arm="control", n=1)], 1),
        command_message(stop_test(), 2),
        outcome_message([outcome(arm="control", n=2)], 3),
    )
    stopped, effects, rejected = ab_state.apply(state, batch)
    assert effects.verdict is not None and effects.verdict["samples"]["control"] == 1
    assert len(rejected) == 1 and "is finished" in rejected[0][1].reason()
    assert stopped is not None and stopped.status == "stopped"


def test_the_current_look_of_a_running_test_has_its_rows_and_srm() -> None:
    assert ab_state.current_look(created()) is None  # no outcome yet
    state, _, _ = feed(created(min_samples=10), outcomes((0.5, 0.6), 30), 1)
    look = ab_state.current_look(state)
    assert look is not None and look["kind"] == "continue"
    [row] = look["rows"]
    assert (row["arm"], row["metric"]) == ("treatment", "success")
    assert row["effect"] is not None and row["ci_low"] < row["effect"] < row["ci_high"]
    assert look["samples"] == {"control": 30, "treatment": 30} and "srm" in look["p_values"]
    assert ab_state.current_look(state) == look  # looking does not change the state
    stopped, _, _ = ab_state.apply(state, parts(command_message(stop_test(), 2)))
    assert stopped is not None and ab_state.current_look(stopped) is None


def test_a_message_with_an_outcome_that_does_not_count_counts_the_others() -> None:
    """Outcomes are taken all at once when each counts; else each is judged alone."""
    good = outcomes((0.5, 0.5), 3)
    for bad in (
        outcome(arm="nowhere", n=9),  # not an arm of the test
        {**outcome(arm="control", n=9), "model_id": "ab-1-new"},  # another arm's model
    ):
        new, _, rejected = feed(created(), [*good[:2], bad, *good[2:]], 1)
        assert sum(arm.assigned for arm in new.stats.arms.values()) == len(good)
        assert [reject.index for _, reject in rejected] == [2]
        assert new.stats == feed(created(), good, 1)[0].stats


def millis_parts(*messages: Message) -> list[Part]:
    """As the outcomes agent reads a batch of outcomes: event times in epoch ms."""
    read = [(origin, INFERENCE_OUTCOMES_TOPIC.read_millis(value)) for origin, value in messages]
    return [(origin, items) for origin, items in read if items is not None]


def test_outcomes_read_in_millis_decide_as_those_read_as_datetimes() -> None:
    """The same state and verdict (its time too), whichever way each message was read."""
    messages = [
        outcome_message(outcomes((0.2, 0.8), 10, start=10 * k, at=AT), k) for k in range(1, 30)
    ]
    mixed = [p for k, m in enumerate(messages) for p in (millis_parts(m) if k % 2 else parts(m))]
    results = [ab_state.apply(created(), ps) for ps in (parts(*messages), mixed)]
    (full, full_effects, _), (fast, fast_effects, _) = results
    assert fast_effects.verdict is not None and fast_effects == full_effects
    assert fast == full
    assert len(millis_parts(*messages)) == len(messages)


def test_the_latest_time_is_taken_as_the_datetime_of_millis_would_be() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for ms in (0, 1, 1_767_603_600_123, 1_767_603_600_999, 253_402_300_799_999):
        moment = epoch + timedelta(milliseconds=ms)
        expected = int(moment.timestamp() * 1000)  # not always ms: float rounding
        assert ab_state._latest_ms([ms]) == expected
        assert ab_state._latest_ms([moment - timedelta(days=1), ms]) == expected
        assert ab_state._latest_ms([moment, ms - 86_400_000]) == expected


def test_a_success_only_test_is_counted_as_the_observations_would_be() -> None:
    """The fold counted at once equals the observations' fold (forced here by a covariate
    that no outcome carries)."""
    records = [*outcomes((0.3, 0.6), 15), outcome(n=99, success=None)]
    state = created()
    general = replace(state, spec=replace(state.spec, covariate="absent"))
    counted, folded = ab_state._added(state, records), ab_state._added(general, records)
    assert counted == folded
    assert counted.arms["treatment"].binary["success"].trials == 15
    assert counted.arms["treatment"].assigned == 16
