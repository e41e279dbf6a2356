"""Checks a FeedbackEvent dict must pass before it becomes a row (pure, no I/O).

Field names are those of ``tonebridge/avro/feedback/feedback_event.v1.avsc``. The string
rules are the project's (:mod:`tonebridge.rules`): lengths are the column widths and text holds
no NUL, since PostgreSQL would refuse either and fail the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tonebridge import rules
from tonebridge.errors import InvalidEventError
from tonebridge.storage.records import FEEDBACK_TYPES, RejectedFeedback


@dataclass(frozen=True, slots=True)
class Candidate:
    """An event that passed every check; ``values`` are the row's attributes."""

    index: int
    event_id: str
    model_id: str
    values: dict[str, Any]


def validate_events(
    events: Iterable[Mapping[str, Any]],
) -> tuple[list[Candidate], list[RejectedFeedback]]:
    """Split a batch into rows to write and rejections with their reasons."""
    candidates: list[Candidate] = []
    rejected: list[RejectedFeedback] = []
    for index, event in enumerate(events):
        try:
            candidates.append(_candidate(index, event))
        except InvalidEventError as reason:
            event_id = event.get("event_id") if isinstance(event, Mapping) else None
            rejected.append(RejectedFeedback(index, _str_or_none(event_id), str(reason)))
    return candidates, rejected


def _candidate(index: int, event: Mapping[str, Any]) -> Candidate:
    if not isinstance(event, Mapping):
        msg = f"event is a {type(event).__name__}, not a mapping"
        raise rules.invalid(msg)
    texts = {
        name: rules.check_text(event.get(name), name, rule)
        for name, rule in rules.FEEDBACK_FIELDS.items()
    }
    rating = _rating(event.get("rating"))
    if rating is None and texts["corrected_text"] is None:
        msg = "neither a rating nor a corrected_text"
        raise rules.invalid(msg)
    event_id, model_id = str(texts.pop("event_id")), str(texts["model_id"])
    values = {
        "id": event_id,
        **texts,
        "rating": rating,
        "feedback_type": _feedback_type(event.get("feedback_type", "rating")),
        "event_metadata": rules.check_metadata(event.get("metadata")),
        "created_at": rules.aware_time(event.get("event_time"), "event_time"),
    }
    return Candidate(index, event_id, model_id, values)


def _rating(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"rating {value!r} is not an integer"
        raise rules.invalid(msg)
    if not 1 <= value <= 5:
        msg = f"rating {value} is outside 1..5"
        raise rules.invalid(msg)
    return value


def _feedback_type(value: Any) -> str:
    if value not in FEEDBACK_TYPES:
        msg = f"feedback_type {value!r} is not one of {', '.join(FEEDBACK_TYPES)}"
        raise rules.invalid(msg)
    return str(value)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
