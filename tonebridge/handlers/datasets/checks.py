"""The input rules (:mod:`tonebridge.rules`) applied to the rows of an imported file.

A row is either of the dataset's format (``FIELDS[fmt]``) or feedback-shaped
(``input_text``, ``output_text``, optional ``corrected_text``, ``rating`` and
``transformation_type``), as :func:`~tonebridge.handlers.datasets.formats.examples_from_records`
reads it. Every text field must pass its rule (no NUL, valid UTF-8, within the column's
length), a rating is a number from 1 to 5, ``desirable`` a boolean. Rows are counted from 1
(a CSV header is not a row). Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from numbers import Real
from typing import Any

from tonebridge import rules
from tonebridge.errors import InvalidEventError, InvalidRowsError
from tonebridge.handlers.datasets.formats import FIELDS, DatasetFormat

Problem = tuple[int, str, str]  # (row, field, message)
MAX_PROBLEMS = 50  # reported at most; a file with more stops being read there

_TEXT_RULES: dict[str, rules.TextRule] = {
    "input_text": rules.TEXT,
    "output_text": rules.TEXT,
    "target_text": rules.TEXT,
    "chosen": rules.TEXT,
    "rejected": rules.TEXT,
    "corrected_text": rules.OPTIONAL_TEXT,
    "transformation_type": rules.NAME,
}
_FEEDBACK_RULES = {
    "input_text": rules.TEXT,
    "output_text": rules.TEXT,
    "corrected_text": rules.OPTIONAL_TEXT,
    "transformation_type": rules.TextRule(rules.NAME_LENGTH, required=False),
}
_TRUTHS = frozenset({"true", "1", "yes", "false", "0", "no"})


def check_rows(records: Sequence[Mapping[str, Any]], fmt: DatasetFormat) -> None:
    """Raise :class:`InvalidRowsError` listing the bad rows' fields (at most
    :data:`MAX_PROBLEMS`); rows of neither shape are left to the import to refuse."""
    if not records:
        return
    keys = records[0].keys()
    if set(FIELDS[fmt]) <= keys:
        fields = {f: _TEXT_RULES[f] for f in FIELDS[fmt] if f in _TEXT_RULES}
        required = [f for f in ("desirable", "rating") if f in FIELDS[fmt]]
    elif {"input_text", "output_text"} <= keys:
        fields, required = _FEEDBACK_RULES, []
    else:
        return
    problems: list[Problem] = []
    for number, record in enumerate(records, start=1):
        problems.extend(_row_problems(number, record, fields, required))
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise InvalidRowsError(problems[:MAX_PROBLEMS])


def _row_problems(
    number: int,
    record: Mapping[str, Any],
    fields: Mapping[str, rules.TextRule],
    required: Sequence[str],
) -> list[Problem]:
    checks: list[tuple[str, Callable[[], object]]] = [
        (field, partial(rules.check_text, record.get(field), field, rule))
        for field, rule in fields.items()
    ]
    if "rating" in record or "rating" in required:
        checks.append(("rating", partial(rating, record.get("rating"), "rating" in required)))
    if "desirable" in required:
        checks.append(("desirable", partial(desirable, record.get("desirable"))))
    return [problem for field, check in checks if (problem := _problem(number, field, check))]


def _problem(number: int, field: str, check: Callable[[], object]) -> Problem | None:
    try:
        check()
    except InvalidEventError as exc:
        return (number, field, str(exc))
    return None


def rating(value: Any, required: bool) -> float | None:
    """A rating: absent (if allowed), or a finite number from 1 to 5 (a CSV's text too)."""
    if value is None or value == "":
        if required:
            msg = "missing rating"
            raise InvalidEventError(msg)
        return None
    number = _number(value)
    if number is None or not 1 <= number <= 5:
        msg = f"rating {str(value)[:40]!r} is not a number from 1 to 5"
        raise InvalidEventError(msg)
    return number


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Real):
        number = float(value)
    else:
        try:
            number = float(str(value))
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def desirable(value: Any) -> bool:
    """``desirable``: a boolean, 0 or 1, or in a CSV one of true/false/1/0/yes/no."""
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUTHS:
        return value.strip().lower() in ("true", "1", "yes")
    if value is None:
        msg = "missing desirable"
        raise InvalidEventError(msg)
    msg = f"desirable {str(value)[:40]!r} is not a boolean (true/false, 1/0, yes/no)"
    raise InvalidEventError(msg)
