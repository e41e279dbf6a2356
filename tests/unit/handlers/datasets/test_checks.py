"""The input rules on an imported file's rows: each bad row named with its field."""

from __future__ import annotations

from typing import Any

import pytest

from tonebridge.errors import InvalidEventError, InvalidRowsError
from tonebridge.handlers.datasets.checks import MAX_PROBLEMS, check_rows, desirable, rating

FEEDBACK = {"input_text": "hi", "output_text": "yo", "corrected_text": "Hello.", "rating": 4}


def problems(records: list[dict[str, Any]], fmt: str = "sft") -> list[tuple[int, str, str]]:
    with pytest.raises(InvalidRowsError) as caught:
        check_rows(records, fmt)  # type: ignore[arg-type]
    return caught.value.problems


def test_good_rows_of_either_shape_pass() -> None:
    check_rows([FEEDBACK, {**FEEDBACK, "rating": None, "corrected_text": None}], "sft")
    ready = {"input_text": "hi", "transformation_type": "formal", "chosen": "a", "rejected": "b"}
    check_rows([ready], "dpo")
    check_rows([], "kto")


def test_each_bad_field_is_named_with_its_row_counted_from_one() -> None:
    rows = [FEEDBACK, {**FEEDBACK, "input_text": "a\x00b", "rating": "often"}, {**FEEDBACK}]
    rows[2]["output_text"] = 42
    found = problems(rows)
    assert [(row, field) for row, field, _ in found] == [
        (2, "input_text"),
        (2, "rating"),
        (3, "output_text"),
    ]
    assert "NUL" in found[0][2] and "must be a string" in found[2][2]


def test_ready_rows_need_their_typed_fields() -> None:
    row = {"input_text": "hi", "transformation_type": "formal", "output_text": "Hello."}
    found = problems([{**row, "desirable": "maybe"}, {**row, "desirable": None}], "kto")
    assert [(r, f) for r, f, _ in found] == [(1, "desirable"), (2, "desirable")]
    reward = {**row, "rating": None}
    assert problems([reward], "reward") == [(1, "rating", "missing rating")]


def test_text_too_long_for_its_column_is_refused() -> None:
    [(row, field, message)] = problems([{**FEEDBACK, "transformation_type": "t" * 65}])
    assert (row, field) == (1, "transformation_type") and "more than 64" in message


def test_the_report_is_bounded() -> None:
    found = problems([{**FEEDBACK, "input_text": None}] * (MAX_PROBLEMS * 3))
    assert len(found) == MAX_PROBLEMS
    assert "50 bad row(s)" in str(InvalidRowsError(found))


@pytest.mark.parametrize(
    ("value", "expected"), [(1, 1.0), ("5", 5.0), (3.5, 3.5), (None, None), ("", None)]
)
def test_ratings_accepted(value: object, expected: float | None) -> None:
    assert rating(value, required=False) == expected


@pytest.mark.parametrize("value", [0, 6, "nan", float("inf"), True, "x"])
def test_ratings_refused(value: object) -> None:
    with pytest.raises(InvalidEventError, match="rating"):
        rating(value, required=False)


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (0, False), ("Yes", True), (" false ", False)]
)
def test_desirable_values(value: object, expected: bool) -> None:
    assert desirable(value) is expected
