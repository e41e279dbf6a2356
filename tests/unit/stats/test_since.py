"""Feedback counted since the last training, by event time."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tonebridge.stats import since
from tonebridge.stats.feedback import FeedbackSample, make_sample
from tonebridge.stats.since import SinceCount

SINCE = 1_000_000
samples = st.builds(
    make_sample,
    st.integers(min_value=SINCE - 1000, max_value=SINCE + 1000),
    st.none() | st.integers(min_value=1, max_value=5),
    st.sampled_from(["a", "b"]),
    st.none() | st.sampled_from(["a", "b"]),
)


def fold(items: list[FeedbackSample]) -> SinceCount:
    state = since.initial(SINCE)
    for item in items:
        state = since.add(state, item)
    return state


def test_counts_only_from_the_start_on() -> None:
    items = [
        make_sample(SINCE - 1, 1, "a", "b"),  # before the last training
        make_sample(SINCE, 5, "a", "b"),
        make_sample(SINCE + 7, None, "a", "c"),
        make_sample(SINCE + 3, 3, "a", "a"),  # late, identical correction
    ]
    summary = since.result(fold(items))
    assert (summary.count, summary.corrected, summary.rated) == (3, 2, 2)
    assert summary.mean_rating == 4.0
    assert summary.newest_ms == SINCE + 7


def test_a_later_start_wins_a_merge() -> None:
    old = since.add(since.initial(SINCE - 10), make_sample(SINCE - 5, None, "a", "b"))
    new = since.initial(SINCE)
    assert since.merge(old, new) == new
    assert since.merge(new, old) == new


@given(st.lists(st.lists(samples, max_size=10), max_size=6))
def test_chunks_merged_equal_one_fold(chunks: list[list[FeedbackSample]]) -> None:
    merged = since.initial(SINCE)
    for chunk in chunks:
        merged = since.merge(merged, since.add_many(since.initial(SINCE), chunk))
    assert merged == fold([s for chunk in chunks for s in chunk])


@given(st.lists(samples, max_size=20))
def test_json_round_trip(items: list[FeedbackSample]) -> None:
    state = fold(items)
    assert SinceCount.from_dict(json.loads(json.dumps(state.to_dict()))) == state
