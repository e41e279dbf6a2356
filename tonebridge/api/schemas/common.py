"""Pieces every request and response schema shares."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from tonebridge import rules
from tonebridge.errors import InvalidEventError


def clean(value: str) -> str:
    """Refuse a NUL or a lone surrogate: the storage refuses them (pydantic names the field)."""
    if value.isascii() and "\x00" not in value:
        return value  # most text: nothing to refuse, and no second call
    try:
        return rules.clean_text(value, "text")
    except InvalidEventError as exc:
        raise ValueError(str(exc).removeprefix("text ")) from None


Clean = AfterValidator(clean)
Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=rules.ID_LENGTH, pattern=rules.ID_PATTERN),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=rules.NAME_LENGTH), Clean]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=rules.LABEL_LENGTH), Clean]
Reason = Annotated[str, StringConstraints(max_length=1000), Clean]
Text = Annotated[str, StringConstraints(min_length=1, max_length=rules.TEXT_LENGTH), Clean]


class Strict(BaseModel):
    """Requests refuse unknown fields, so a typo is a 422 instead of a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EventFields(Strict):
    """Fields every ingested event carries. Send ``event_id`` to make retries harmless:
    consumers deduplicate on it. ``event_time`` defaults to the time the API received it, and
    may lie at most ``EVENT_TIME_MAX_FUTURE_S`` ahead. No text may hold a NUL character."""

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))

    def event_fields(self) -> dict[str, Any]:
        """The event's other fields by name (a model's values are its ``__dict__``: read
        there, not dumped, on the ingest path)."""
        fields = dict(self.__dict__)
        del fields["event_id"], fields["event_time"]
        return fields


class Accepted(BaseModel):
    """A command was put on its topic; ``status_url`` says where to follow it."""

    command_id: str
    status_url: str | None = None


def new_id() -> str:
    return str(uuid.uuid4())


def check_event_times(events: Sequence[EventFields], max_future_s: float, batched: bool) -> None:
    """Refuse events dated further ahead of this clock than ``max_future_s`` (a 422)."""
    now, skew = datetime.now(UTC), timedelta(seconds=max_future_s)
    errors = []
    for index, event in enumerate(events):
        try:
            rules.check_event_time(event.event_time, "event_time", now, skew)
        except InvalidEventError as exc:
            where = ["body", "events", index, "event_time"] if batched else ["body", "event_time"]
            errors.append({"type": "value_error", "loc": where, "msg": str(exc)})
    if errors:
        raise RequestValidationError(errors)
