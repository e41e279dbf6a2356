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

A consumer first asks whether a whole message's records pass (:func:`all_fit`,
:func:`times_fit`, :func:`feedback_fits`: the common case, decided a field at a time over all
the records at once); only when they may not does it check each record, which also says why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter, itemgetter
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
# Ids joined by NUL (which no checked text holds): each one matches ID_PATTERN.
_ID_CHARS = r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*"
_IDS = re.compile(f"{_ID_CHARS}(?:\x00{_ID_CHARS})*")
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
    """Apply each field's rule to ``record`` (for every event a consumer reads: the common
    case, a value that :func:`fits` or an absent optional one, costs one call)."""
    for field, rule in rules.items():
        value = record.get(field)
        if not (fits(value, rule) or (value is None and not rule.required)):
            check_text(value, field, rule)


def fits(value: Any, rule: TextRule) -> bool:
    """Whether ``value`` is a plain ASCII string that ``rule`` accepts (the common case,
    decided in one expression; :func:`check_text` decides and explains every other)."""
    return (
        type(value) is str
        and 0 < len(value) <= rule.limit
        and value.isascii()
        and "\x00" not in value
        and (not rule.identifier or _ID.match(value) is not None)
    )


def all_fit(records: Sequence[Mapping[str, Any]], rules: Mapping[str, TextRule]) -> bool:
    """Whether :func:`check_fields` passes every record, decided a field at a time over all
    of them for the common case (plain ASCII strings that fit, absent optional ones); False
    when they may not (then check each record)."""
    if not records or len(rules) < 2:
        return not records
    try:
        columns = zip(*map(itemgetter(*rules), records), strict=True)
        texts = [
            _column_text(column, rule) for rule, column in zip(rules.values(), columns, strict=True)
        ]
    except (KeyError, TypeError):  # an absent field, a value that is no string
        return False
    if None in texts:
        return False
    text = "".join(texts)  # type: ignore[arg-type]
    return text.isascii() and "\x00" not in text


def texts_fit(values: Sequence[Any], rule: TextRule) -> bool:
    """Whether :func:`check_text` passes each of ``values``, decided at once for plain ASCII
    strings (False: check each)."""
    try:
        text = _column_text(values, rule)
    except TypeError:  # a value that is no string
        return False
    return text is not None and text.isascii() and "\x00" not in text


def _column_text(column: Sequence[Any], rule: TextRule) -> str | None:
    """One field's values joined if each fits ``rule`` as a plain string or an absent optional
    one; None if one may not (NUL and non-ASCII text are the caller's to look for)."""
    present = column if rule.required else [v for v in column if v is not None]
    if not present:
        return ""
    text = "".join(present)  # TypeError for a value that is not a string (or a None)
    lengths = list(map(len, present))
    if max(lengths) > rule.limit or (rule.nonempty and min(lengths) == 0):
        return None
    if rule.identifier and _IDS.fullmatch("\x00".join(present)) is None:
        return None
    return text


def times_fit(moments: Sequence[Any], now: datetime, max_future: timedelta) -> bool:
    """Whether :func:`check_event_time` passes each of ``moments`` as its common case: UTC
    datetimes (as Avro decodes them) no later than ``now + max_future``."""
    if not moments:
        return True
    return (
        set(map(type, moments)) == {datetime}
        and set(map(_tzinfo, moments)) == {UTC}
        and max(moments) <= now + max_future
    )


_tzinfo = attrgetter("tzinfo")
_US = timedelta(microseconds=1)


def millis_fit(values: Sequence[Any], now: datetime, max_future: timedelta) -> bool:
    """Whether each of ``values``, event times read as epoch milliseconds for the folds
    (``TopicSpec.read_millis``), is one that :func:`check_event_time` accepts as the datetime
    a full read gives: ints from the epoch on (a datetime holds each) to ``now + max_future``,
    compared in whole microseconds, as datetimes compare (False: read and check them so)."""
    if not values:
        return True
    limit_us = (now + max_future - _EPOCH) // _US
    return set(map(type, values)) == {int} and min(values) >= 0 and max(values) * 1000 <= limit_us


def metadata_fit(values: Iterable[Any]) -> bool:
    """Whether :func:`check_metadata` passes each of ``values``."""
    try:
        for value in values:
            if value is not None and not (type(value) is dict and not value):
                check_metadata(value)
    except InvalidEventError:
        return False
    return True


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
    if value is None or (type(value) is dict and not value):
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
    if type(moment) is datetime and moment.tzinfo is UTC and moment <= now + max_future:
        return moment  # the common case, decided at once (a decoded Avro timestamp is UTC)
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


def feedback_fits(
    records: Sequence[Mapping[str, Any]],
    now: datetime,
    max_future: timedelta,
    *,
    millis: bool = False,
) -> bool:
    """Whether :func:`check_feedback` passes every record (False: check each one); with
    ``millis``, of the records read with their event times in epoch ms (:func:`millis_fit`)."""
    times = millis_fit if millis else times_fit
    return (
        all_fit(records, FEEDBACK_FIELDS)
        and metadata_fit(r.get("metadata") for r in records)
        and times([r.get("event_time") for r in records], now, max_future)
    )


def check_feedback(record: Mapping[str, Any], now: datetime, max_future: timedelta) -> None:
    """Every rule a FeedbackEvent must pass (its rating is the statistics' to judge)."""
    check_fields(record, FEEDBACK_FIELDS)
    check_metadata(record.get("metadata"))
    check_event_time(record.get("event_time"), "event_time", now, max_future)
