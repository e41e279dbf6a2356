"""The input rules every edge applies: the API's schemas, the worker's intake, the trainer's
command parsing and the repositories (pure, no I/O).

They are what the storage accepts, defined once: PostgreSQL refuses a NUL character in text
and a value longer than its ``varchar``; SQLite takes both, so a rule missing here shows only
on PostgreSQL. A violation raises :class:`InvalidEventError` naming the field: the API turns it
into a 422, a Kafka consumer into a dead letter with that reason.

- Text has no NUL character and no lone surrogate (it must encode as UTF-8).
- Lengths fit the columns: ids 64, names 64 (model and transformation type), labels 255
  (user, session, requester), texts 20,000 characters.
- Ids have a sane shape (:data:`ID_PATTERN`).
- Every number is finite, however deep in a JSON value (hyperparameters, metrics, configs).
- Event times lie no further in the future than a configurable skew; old ones are allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tonebridge.errors import InvalidEventError

ID_LENGTH = 64  # primary keys and references (String(64))
NAME_LENGTH = 64  # model_type, transformation_type, version (String(64))
LABEL_LENGTH = 255  # user_id, session_id, requested_by, names (String(255))
TEXT_LENGTH = 20_000  # input, output and corrected texts, base model names, reasons
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"
METADATA_ENTRIES = 50
METADATA_KEY_LENGTH = 200
METADATA_VALUE_LENGTH = 2000
JSON_DEPTH = 20  # nesting of a hyperparameter or config value

_ID = re.compile(ID_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TextRule:
    """What one string field accepts."""

    limit: int
    required: bool = True
    identifier: bool = False  # must match ID_PATTERN
    nonempty: bool = True  # ids, names and labels; free texts may be empty


ID = TextRule(ID_LENGTH, identifier=True)
OPTIONAL_ID = TextRule(ID_LENGTH, required=False, identifier=True)
NAME = TextRule(NAME_LENGTH)
LABEL = TextRule(LABEL_LENGTH)
OPTIONAL_LABEL = TextRule(LABEL_LENGTH, required=False)
TEXT = TextRule(TEXT_LENGTH, nonempty=False)
OPTIONAL_TEXT = TextRule(TEXT_LENGTH, required=False, nonempty=False)
METADATA_KEY = TextRule(METADATA_KEY_LENGTH)
METADATA_VALUE = TextRule(METADATA_VALUE_LENGTH)

# The FeedbackEvent's strings (tonebridge/avro/feedback/feedback_event.v1.avsc).
FEEDBACK_FIELDS: dict[str, TextRule] = {
    "event_id": ID,
    "user_id": LABEL,
    "session_id": OPTIONAL_LABEL,
    "model_id": ID,
    "input_text": TEXT,
    "output_text": TEXT,
    "corrected_text": OPTIONAL_TEXT,
    "transformation_type": NAME,
}


def invalid(message: str) -> InvalidEventError:
    return InvalidEventError(message)


def clean_text(value: str, field: str) -> str:
    """``value`` if it holds no NUL and encodes as UTF-8; else why not, naming ``field``."""
    if "\x00" in value:
        msg = f"{field} contains a NUL character"
        raise invalid(msg)
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            msg = f"{field} contains a lone surrogate (not valid UTF-8)"
            raise invalid(msg) from None
    return value


def check_text(value: Any, field: str, rule: TextRule) -> str | None:
    """Apply ``rule`` to one field's value; None stands for an absent optional field."""
    if value is None:
        if rule.required:
            msg = f"missing {field}"
            raise invalid(msg)
        return None
    if not isinstance(value, str):
        msg = f"{field} must be a string, not {type(value).__name__}"
        raise invalid(msg)
    if rule.nonempty and not value:
        msg = f"{field} is empty"
        raise invalid(msg)
    if len(value) > rule.limit:
        msg = f"{field} is {len(value)} characters long, more than {rule.limit}"
        raise invalid(msg)
    if rule.identifier and not _ID.match(value):
        msg = f"{field} {value[:80]!r} is not an id (letters, digits and ._:/@+- only)"
        raise invalid(msg)
    return clean_text(value, field)


def check_fields(record: Mapping[str, Any], rules: Mapping[str, TextRule]) -> None:
    """Apply each field's rule to ``record``; a plain ASCII value that fits is passed at once."""
    for field, rule in rules.items():
        value = record.get(field)
        if not (type(value) is str and _plainly_fits(value, rule)):
            check_text(value, field, rule)


def _plainly_fits(value: str, rule: TextRule) -> bool:
    """The common case, decided in one expression: :func:`check_text` explains any other."""
    return (
        0 < len(value) <= rule.limit
        and value.isascii()
        and "\x00" not in value
        and (not rule.identifier or _ID.match(value) is not None)
    )


def check_json(value: Any, field: str, depth: int = 0) -> Any:
    """``value`` if every number in it is finite and every string is clean text."""
    if depth > JSON_DEPTH:
        msg = f"{field} is nested deeper than {JSON_DEPTH} levels"
        raise invalid(msg)
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"{field} is {value}, not a finite number"
        raise invalid(msg)
    if isinstance(value, str):
        clean_text(value, field)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            clean_text(str(key), f"{field} key")
            check_json(item, f"{field}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_json(item, f"{field}[{index}]", depth + 1)
    return value


def check_metadata(value: Any, field: str = "metadata") -> dict[str, str]:
    """A string-to-string map within the entry and length bounds."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        msg = f"{field} must map strings to strings"
        raise invalid(msg)
    if len(value) > METADATA_ENTRIES:
        msg = f"{field} has {len(value)} entries, more than {METADATA_ENTRIES}"
        raise invalid(msg)
    for key, item in value.items():
        check_text(key, f"{field} key", METADATA_KEY)
        check_text(item, f"{field}.{key}", METADATA_VALUE)
    return dict(value)


def aware_time(moment: Any, field: str) -> datetime:
    """``moment`` if it is a datetime with a time zone."""
    if not isinstance(moment, datetime):
        msg = f"{field} {moment!r} is not a datetime"
        raise invalid(msg)
    if moment.utcoffset() is None:
        msg = f"{field} {moment.isoformat()} has no time zone"
        raise invalid(msg)
    return moment


def check_event_time(moment: Any, field: str, now: datetime, max_future: timedelta) -> datetime:
    """An aware time no later than ``now + max_future`` (old times are fine)."""
    aware = aware_time(moment, field)
    if aware > now + max_future:
        ahead = (aware - now).total_seconds()
        msg = (
            f"{field} {aware.isoformat()} is {ahead:.0f} s in the future "
            f"(at most {max_future.total_seconds():.0f} s allowed)"
        )
        raise invalid(msg)
    return aware


def reference_time(timestamp_ms: int | None, now: datetime) -> datetime:
    """The 'now' a consumer judges an event time against: the Kafka record's timestamp.

    A replayed record is judged as it was the first time; a producer's timestamp that lies in
    the future counts no later than the consumer's clock.
    """
    if timestamp_ms is None or timestamp_ms < 0:
        return now
    return min(now, _EPOCH + timedelta(milliseconds=timestamp_ms))


def check_feedback(record: Mapping[str, Any], now: datetime, max_future: timedelta) -> None:
    """Every rule a FeedbackEvent must pass (its rating is the statistics' to judge)."""
    check_fields(record, FEEDBACK_FIELDS)
    check_metadata(record.get("metadata"))
    check_event_time(record.get("event_time"), "event_time", now, max_future)
