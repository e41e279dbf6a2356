"""Feedback statistics: counts, histogram, correction rate and edit distance; fold laws."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tonebridge.errors import InvalidEventError
from tonebridge.stats import feedback
from tonebridge.stats.feedback import FeedbackSample, FeedbackStats, make_sample

texts = st.text(alphabet="abc ", max_size=12)
samples = st.builds(
    make_sample,
    st.integers(min_value=0, max_value=10**12),
    st.none() | st.integers(min_value=1, max_value=5),
    texts,
    st.none() | texts,
)


def levenshtein(a: str, b: str) -> int:
    """Textbook dynamic programme, the reference for rapidfuzz."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def fold(items: list[FeedbackSample]) -> FeedbackStats:
    state = feedback.initial()
    for item in items:
        state = feedback.add(state, item)
    return state


def assert_same(a: FeedbackStats, b: FeedbackStats) -> None:
    assert a.to_dict() | {"edit_distance_sum": 0} == b.to_dict() | {"edit_distance_sum": 0}
    assert math.isclose(a.edit_distance_sum, b.edit_distance_sum, rel_tol=1e-9, abs_tol=1e-9)


@given(texts, texts)
def test_edit_distance_is_normalised_levenshtein(a: str, b: str) -> None:
    expected = levenshtein(a, b) / max(len(a), len(b)) if a or b else 0.0
    assert feedback.edit_distance(a, b) == pytest.approx(expected)


def test_summary_on_fixed_events() -> None:
    items = [
        make_sample(1, 5, "Could you send it?", None),
        make_sample(2, 2, "send it", "Please send it."),
        make_sample(3, None, "hello", "hello"),  # a correction text identical to the output
        make_sample(4, 4, "abcd", "abce"),
    ]
    summary = feedback.result(fold(items))
    assert (summary.count, summary.rated, summary.corrections) == (4, 3, 2)
    assert summary.mean_rating == pytest.approx(11 / 3)
    assert summary.rating_histogram == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert summary.correction_rate == pytest.approx(0.5)
    expected_edit = (levenshtein("send it", "Please send it.") / 15 + 0.0 + 0.25) / 3
    assert summary.mean_edit_distance == pytest.approx(expected_edit)


def test_empty_summary() -> None:
    summary = feedback.result(feedback.initial())
    assert (summary.mean_rating, summary.correction_rate, summary.mean_edit_distance) == (
        None,
        None,
        None,
    )


def test_sample_from_a_decoded_record() -> None:
    record = {
        "event_time": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone(timedelta(hours=2))),
        "output_text": "Send it now.",
        "corrected_text": "Could you send it now?",
        "rating": 3,
    }
    sample = feedback.sample_from_record(record)
    expected_ms = int(datetime(2026, 1, 2, 1, 4, 5, 678000, tzinfo=UTC).timestamp() * 1000)
    assert sample.event_time_ms == expected_ms
    assert (sample.rating, sample.has_correction, sample.corrected) == (3, True, True)


NAIVE = datetime(2026, 1, 1)  # noqa: DTZ001 - a naive time is what this test rejects


@pytest.mark.parametrize("bad", [{"rating": 6}, {"rating": 0}, {"event_time": NAIVE}])
def test_invalid_events_are_rejected(bad: dict[str, object]) -> None:
    record = {"event_time": datetime(2026, 1, 1, tzinfo=UTC), "output_text": "x"} | bad
    with pytest.raises(InvalidEventError):
        feedback.sample_from_record(record)


@pytest.mark.parametrize("bad", [{"rating": 6}, {"rating": 0}, {"event_time": NAIVE}])
def test_samples_from_records_rejects_as_sample_from_record(bad: dict[str, object]) -> None:
    good = {"event_time": datetime(2026, 1, 1, tzinfo=UTC), "output_text": "x"}
    with pytest.raises(InvalidEventError):
        feedback.samples_from_records([good, good | bad])


def test_samples_from_records_is_sample_from_record_of_each() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    records = [
        {"event_time": at, "output_text": "Send it.", "corrected_text": None, "rating": 5},
        {"event_time": at, "output_text": "Send it.", "corrected_text": "Send it.", "rating": None},
        {
            "event_time": at,
            "output_text": "Send it.",
            "corrected_text": "Send it now?",
            "rating": 1,
        },
        {"event_time": at.astimezone(timezone(timedelta(hours=2))), "output_text": "", "rating": 2},
    ]
    assert feedback.samples_from_records(records) == [
        feedback.sample_from_record(r) for r in records
    ]


@given(st.lists(st.lists(samples, max_size=10), max_size=6))
def test_chunks_merged_equal_one_fold(chunks: list[list[FeedbackSample]]) -> None:
    merged = feedback.initial()
    for chunk in chunks:
        merged = feedback.merge(merged, fold(chunk))
    assert_same(merged, fold([s for chunk in chunks for s in chunk]))


@given(st.lists(samples, max_size=30))
def test_add_many_equals_add_and_json_round_trips(items: list[FeedbackSample]) -> None:
    state = feedback.add_many(feedback.initial(), items)
    assert_same(state, fold(items))
    assert FeedbackStats.from_dict(json.loads(json.dumps(state.to_dict()))) == state
