"""Event-time windows: eviction relative to the newest event, late events, fold laws."""

from __future__ import annotations

import json
import math
import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tonebridge.stats import windows
from tonebridge.stats.feedback import FeedbackSample, make_sample
from tonebridge.stats.windows import WindowedFeedback

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_800_000_000_000 - 1_800_000_000_000 % HOUR  # an hour boundary

samples = st.builds(
    make_sample,
    st.integers(min_value=T0, max_value=T0 + 40 * HOUR),
    st.none() | st.integers(min_value=1, max_value=5),
    st.text(alphabet="ab", max_size=6),
    st.none() | st.text(alphabet="ab", max_size=6),
)


def at(ms: int, rating: int | None = 4) -> FeedbackSample:
    return make_sample(ms, rating, "out", None)


def fold(items: list[FeedbackSample]) -> WindowedFeedback:
    state = windows.initial()
    for item in items:
        state = windows.add(state, item)
    return state


def assert_close(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_close(a[key], b[key])
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    else:
        assert a == b


def test_last_hour_hops_every_five_minutes() -> None:
    state = fold([at(T0), at(T0 + 30 * MIN), at(T0 + 59 * MIN)])
    assert windows.result(state).last_hour.count == 3
    state = windows.add(state, at(T0 + 62 * MIN))  # the bucket [T0, T0+5min) leaves the hour
    summary = windows.result(state)
    assert (summary.last_hour.count, summary.last_day.count, summary.all_time.count) == (3, 4, 4)
    assert summary.newest_event_bucket_ms == T0 + 60 * MIN


def test_late_events_count_where_they_belong() -> None:
    state = fold([at(T0 + 50 * HOUR), at(T0 + 50 * HOUR - 20 * MIN)])  # out of order, in window
    state = windows.add(state, at(T0 + 50 * HOUR - 3 * HOUR))  # in the day only
    state = windows.add(state, at(T0))  # two days late: all-time only
    summary = windows.result(state)
    assert (summary.last_hour.count, summary.last_day.count, summary.all_time.count) == (2, 3, 4)


def test_windows_end_at_a_given_event_time() -> None:
    state = fold([at(T0), at(T0 + 10 * MIN, rating=2)])
    later = windows.result(state, now_ms=T0 + 3 * HOUR)
    assert (later.last_hour.count, later.last_day.count) == (0, 2)
    assert later.last_day.mean_rating == 3.0
    assert windows.result(state, now_ms=T0 + 30 * HOUR).last_day.count == 0


def test_state_stays_bounded() -> None:
    state = windows.add_many(windows.initial(), [at(T0 + i * MIN) for i in range(0, 3 * 24 * 60)])
    assert len(state.recent.buckets) <= 12
    assert len(state.day.buckets) <= 24
    assert windows.result(state).all_time.count == 3 * 24 * 60


@given(st.lists(st.lists(samples, max_size=8), max_size=6), st.randoms(use_true_random=False))
def test_chunks_in_any_order_merged_equal_one_fold(
    chunks: list[list[FeedbackSample]], rng: random.Random
) -> None:
    parts = [fold(chunk) for chunk in chunks]
    rng.shuffle(parts)
    merged = windows.initial()
    for part in parts:
        merged = windows.merge(merged, part)
    assert_close(merged.to_dict(), fold([s for chunk in chunks for s in chunk]).to_dict())


@given(st.lists(samples, max_size=25), st.lists(samples, max_size=25))
def test_add_many_equals_add(first: list[FeedbackSample], second: list[FeedbackSample]) -> None:
    batched = windows.add_many(windows.add_many(windows.initial(), first), second)
    assert_close(batched.to_dict(), fold(first + second).to_dict())


@given(st.lists(samples, max_size=20))
def test_json_round_trip(items: list[FeedbackSample]) -> None:
    state = fold(items)
    assert WindowedFeedback.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@given(st.lists(samples, max_size=40), st.sampled_from([(5, 12, 60, 24), (7, 5, 60, 24)]))
def test_add_many_equals_add_whatever_the_shapes(
    items: list[FeedbackSample], shape: tuple[int, int, int, int]
) -> None:
    """Day buckets merged from recent ones (5 min into 60) or counted apart (7 min)."""
    recent_min, recent_n, day_min, day_n = shape
    start = windows.initial(recent_min * MIN, recent_n, day_min * MIN, day_n)
    one_by_one = start
    for item in items:
        one_by_one = windows.add(one_by_one, item)
    assert_close(windows.add_many(start, items).to_dict(), one_by_one.to_dict())


@given(
    st.lists(samples, max_size=30),
    st.integers(min_value=-30, max_value=40 * 12),
    st.lists(st.integers(min_value=0, max_value=5 * MIN - 1), min_size=1, max_size=8),
)
def test_a_batch_in_one_recent_bucket_folds_as_any_batch(
    before: list[FeedbackSample], bucket: int, offsets: list[int]
) -> None:
    """The one-bucket shortcut (the live case) gives exactly the general path's state: the
    bucket may be new, the newest, inside the window, or older than it (counted all-time)."""
    state = windows.add_many(windows.initial(), before)
    start = T0 + bucket * 5 * MIN
    batch = [make_sample(start + o, 1 + o % 5, "out", "fix" if o % 2 else None) for o in offsets]
    general = windows.merge(state, windows._folded(state.recent, state.day, batch))
    assert windows.add_many(state, batch) == general
    assert windows.add_many(state, batch).to_dict() == general.to_dict()
    assert list(windows.add_many(state, batch).recent.buckets) == list(general.recent.buckets)
