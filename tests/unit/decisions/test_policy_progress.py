from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.decisions.test_retraining import DOC, HOUR, observe, rules
from tonebridge.decisions import retraining
from tonebridge.decisions.policy_progress import progress
from tonebridge.decisions.retraining import Memory, Policy, parse_policies

__all__ = ["rules"]  # the fixture, shared with the retraining tests


def test_progress_counts_corrections_toward_the_threshold(
    rules: dict[str, Policy],
) -> None:
    rule = rules["corrections"]
    fired = Memory(last_fired_ms=9 * HOUR)
    p = progress(rule, observe(new_corrections=40, new_samples=90), fired)
    assert (p.measure, p.value, p.threshold, p.fires_when) == ("corrections", 40, 100, "at_least")
    assert p.samples == 90 and not p.met
    assert p.cooldown_until_ms == 15 * HOUR and p.cooling  # fired at 9h, cooldown 6h, now 10h
    assert progress(rule, observe(new_corrections=100), Memory()).met


def test_progress_of_a_rate_policy_shows_its_window_and_rearm_level(
    rules: dict[str, Policy],
) -> None:
    p = progress(rules["corrected-often"], observe(), Memory(armed=False))
    assert (p.measure, p.value, p.threshold, p.fires_when) == ("correction_rate", 0.1, 0.5, "above")
    assert (p.samples, p.min_samples) == (500, 50)
    assert p.rearm_at == pytest.approx(0.45) and not p.armed and not p.met
    few = progress(rules["low-rating"], observe(windows={"last_hour": (9, 1.0, 0.9)}), Memory())
    assert (few.value, few.samples, few.min_samples, few.met) == (1.0, 9, 10, False)
    assert few.cooldown_until_ms is None and not few.cooling


def test_progress_of_a_schedule_says_when_it_is_due(rules: dict[str, Policy]) -> None:
    p = progress(rules["nightly"], observe(since_ms=HOUR, now_ms=20 * HOUR), Memory())
    assert p.due_ms == 24 * HOUR and not p.met
    later = observe(since_ms=HOUR, now_ms=25 * HOUR, new_samples=5)
    assert progress(rules["nightly"], later, Memory()).met


def test_a_lost_test_policy_has_nothing_to_count(rules: dict[str, Policy]) -> None:
    p = progress(rules["lost"], observe(new_corrections=10**6), Memory())
    assert (p.fires_when, p.measure, p.value, p.met) == ("on_lost_test", None, None, False)


WINDOW = st.tuples(
    st.integers(0, 300),
    st.none() | st.floats(1, 5),
    st.none() | st.floats(0, 1),
)


@given(
    name=st.sampled_from(["corrections", "low-rating", "corrected-often", "lost", "nightly"]),
    now_h=st.integers(0, 72),
    since_h=st.integers(0, 72),
    corrections=st.integers(0, 200),
    extra=st.integers(0, 20),
    hour=WINDOW,
    day=WINDOW,
    armed=st.booleans(),
    fired_h=st.none() | st.integers(0, 72),
)
def test_progress_agrees_with_evaluate(
    name: str,
    now_h: int,
    since_h: int,
    corrections: int,
    extra: int,
    hour: tuple[int, float | None, float | None],
    day: tuple[int, float | None, float | None],
    armed: bool,
    fired_h: int | None,
) -> None:
    """A policy fires exactly when its progress says the threshold is met, it is armed and
    it is not cooling down."""
    rule = {p.name: p for p in parse_policies(yaml.safe_load(DOC))}[name]
    obs = observe(
        now_ms=max(now_h, since_h) * HOUR,
        since_ms=since_h * HOUR,
        new_corrections=corrections,
        new_samples=corrections + extra,
        windows={"last_hour": hour, "last_day": day, "all_time": day},
    )
    memory = Memory(armed, None if fired_h is None else fired_h * HOUR)
    p = progress(rule, obs, memory)
    fired = retraining.evaluate(rule, obs, memory)[1] is not None
    assert fired == (p.met and p.armed and not p.cooling)
