from __future__ import annotations

import pytest

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods.examples import (
    PreferenceExample,
    RatedRewrite,
    RewriteExample,
    labels_from_ratings,
    preferences_from_ratings,
    require_rows,
)


def test_require_rows_accepts_rows_of_the_type() -> None:
    rows = [RewriteExample("send it", "Please send it.", "formal")]
    assert require_rows(rows, RewriteExample) == rows


@pytest.mark.parametrize(
    ("rows", "minimum", "message"),
    [
        ([], 1, "0 rows; at least 1"),
        ([RewriteExample("a", "b", "formal")], 2, "1 rows; at least 2"),
        ([PreferenceExample("a", "formal", "b", "c")], 1, "row 0 is PreferenceExample"),
        ([RewriteExample("a", "b", "formal"), RewriteExample("a", "", "formal")], 1, "row 1"),
        ([RewriteExample("a", "b", " ")], 1, "transformation_type is blank"),
    ],
)
def test_require_rows_rejects_bad_datasets(rows: list[object], minimum: int, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        require_rows(rows, RewriteExample, minimum=minimum)


def _rated(text: str, output: str, rating: float, tone: str = "polite") -> RatedRewrite:
    return RatedRewrite(text, tone, output, rating)


def test_preferences_pair_rewrites_of_one_input_by_rating() -> None:
    rated = [
        _rated("a", "good", 5),
        _rated("a", "meh", 3),
        _rated("a", "bad", 1),
        _rated("a", "also meh", 3.5),
        _rated("b", "only one", 4),
        _rated("a", "other tone", 1, tone="formal"),
    ]
    pairs = preferences_from_ratings(rated, min_gap=1.0)
    found = {(p.chosen, p.rejected) for p in pairs}
    assert found == {
        ("good", "also meh"),
        ("good", "meh"),
        ("good", "bad"),
        ("also meh", "bad"),
        ("meh", "bad"),
    }
    assert all(p.input_text == "a" and p.transformation_type == "polite" for p in pairs)


def test_preferences_cap_the_pairs_per_input() -> None:
    rated = [_rated("a", f"r{i}", float(i)) for i in range(10)]
    assert len(preferences_from_ratings(rated, min_gap=1.0, max_pairs_per_input=5)) == 5
    assert len(preferences_from_ratings(rated, min_gap=1.0, max_pairs_per_input=100)) == 45


def test_labels_split_ratings_at_the_threshold() -> None:
    rated = [_rated("a", "x", 4.0), _rated("a", "y", 3.9), _rated("a", "z", 5)]
    assert [row.desirable for row in labels_from_ratings(rated, threshold=4.0)] == [
        True,
        False,
        True,
    ]
