"""The trainer's input rules: a command read from Kafka is checked before anything is stored.

A TrainingCommand or ModelCommand may come from anywhere, not only the API, so the trainer
applies the same rules (:mod:`tonebridge.rules`): a violation raises
:class:`~tonebridge.errors.InvalidEventError` naming the field, and the command becomes a
dead letter instead of a row the database refuses. Dead letters of a command have an id
derived from the record's place, so a replay after a crash repeats the same dead letter.
"""

from __future__ import annotations

import uuid
from typing import Any

from tonebridge.avro.codec import Record
from tonebridge.handlers.trainer.plan import parse_config
from tonebridge.rules import (
    ID,
    LABEL,
    NAME,
    OPTIONAL_ID,
    OPTIONAL_TEXT,
    check_fields,
    check_json,
)
from tonebridge.topics.deadletter import MAX_REASON_CHARS, dead_letter

TRAINING_COMMAND_RULES = {
    "command_id": LABEL,
    "job_id": OPTIONAL_ID,
    "model_id": OPTIONAL_ID,
    "baseline_model_id": OPTIONAL_ID,
    "dataset_id": OPTIONAL_ID,
    "base_model": OPTIONAL_TEXT,
    "model_type": NAME,
    "requested_by": LABEL,
    "reason": OPTIONAL_TEXT,
}
STOP_COMMAND_RULES = {"job_id": OPTIONAL_ID, "reason": OPTIONAL_TEXT}
MODEL_COMMAND_RULES = {
    "command_id": LABEL,
    "model_id": ID,
    "requested_by": LABEL,
    "reason": OPTIONAL_TEXT,
}
_DEAD_LETTERS = uuid.UUID("0c6f2a8e-93b1-4d57-8e0a-5b2f7d4c1e63")


def check_training_command(command: Record) -> Record:
    """``command`` if every field fits its rule and ``config_json`` is clean, finite JSON."""
    if command.get("kind") == "stop":
        check_fields(command, STOP_COMMAND_RULES)
        return command
    check_fields(command, TRAINING_COMMAND_RULES)
    check_json(parse_config(command.get("config_json") or "{}"), "config_json")
    return command


def check_model_command(command: Record) -> Record:
    check_fields(command, MODEL_COMMAND_RULES)
    return command


def printable(reason: str) -> str:
    """A reason the database and the dead-letter topic take (no NUL, bounded)."""
    return reason.replace("\x00", "\\x00")[:MAX_REASON_CHARS]


def dead_letter_of(message: Any, error: BaseException) -> Record:
    """The DeadLetter of a Kafka record, with an id fixed by the record's place."""
    where = f"{message.topic}|{message.partition}|{message.offset}"
    return dead_letter(
        message.topic, message.partition, message.offset, message.key, message.value or b"", error,
        reason=printable(str(error) or repr(error)),
        event_id=str(uuid.uuid5(_DEAD_LETTERS, where)),
    )  # fmt: skip
