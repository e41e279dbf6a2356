"""Pieces every request and response schema shares."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"),
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(max_length=1000)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class Strict(BaseModel):
    """Requests refuse unknown fields, so a typo is a 422 instead of a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EventFields(Strict):
    """Fields every ingested event carries. Send ``event_id`` to make retries harmless:
    consumers deduplicate on it. ``event_time`` defaults to the time the API received it."""

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))


class Accepted(BaseModel):
    """A command was put on its topic; ``status_url`` says where to follow it."""

    command_id: str
    status_url: str | None = None


def new_id() -> str:
    return str(uuid.uuid4())
