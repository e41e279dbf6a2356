"""The trainer's command rules: the values the database or the runner would refuse."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from tonebridge.errors import InvalidEventError
from tonebridge.handlers.trainer.intake import (
    check_model_command,
    check_training_command,
    dead_letter_of,
)

GOOD: dict[str, Any] = {
    "command_id": "cmd-1",
    "kind": "sft",
    "job_id": None,
    "model_id": "model-1",
    "base_model": "local/tiny",
    "model_type": "tone_adjustment",
    "requested_by": "api:admin",
    "config_json": json.dumps({"lora_target_modules": ["q_proj"], "learning_rate": 1e-3}),
}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"model_type": "m" * 100}, "model_type is 100 characters long, more than 64"),
        ({"base_model": "tiny\x00"}, "base_model contains a NUL"),
        ({"reason": "why\x00"}, "reason contains a NUL"),
        ({"model_id": "../etc"}, "model_id '../etc' is not an id"),
        ({"dataset_id": "d" * 65}, "dataset_id is 65 characters long"),
        ({"config_json": '{"lora_target_modules": ["q\\u0000"]}'}, "lora_target_modules[0]"),
        ({"config_json": '{"learning_rate": Infinity}'}, "learning_rate is inf"),
        ({"config_json": '{"warmup": [NaN]}'}, "warmup[0] is nan"),
        ({"config_json": "[1]"}, "config_json must be a JSON object"),
        ({"command_id": "c" * 256}, "command_id is 256 characters long"),
    ],
)
def test_a_bad_training_command_is_refused_naming_the_field(
    change: dict[str, Any], named: str
) -> None:
    assert check_training_command(GOOD) == GOOD
    with pytest.raises(InvalidEventError, match=named.replace("[", r"\[").replace("]", r"\]")):
        check_training_command(GOOD | change)


def test_a_stop_needs_only_a_clean_job_id() -> None:
    stop = {"command_id": "s", "kind": "stop", "job_id": "job-1", "model_type": "x" * 100}
    assert check_training_command(stop) == stop
    with pytest.raises(InvalidEventError, match="job_id"):
        check_training_command(stop | {"job_id": "job\x00"})


def test_a_model_command_needs_an_id_shaped_model_id() -> None:
    good = {"command_id": "mc-1", "model_id": "m-1", "requested_by": "api", "action": "deploy"}
    assert check_model_command(good) == good
    with pytest.raises(InvalidEventError, match="model_id"):
        check_model_command(good | {"model_id": "m" * 65})


def test_a_dead_letter_keeps_the_place_and_a_printable_reason() -> None:
    message = SimpleNamespace(topic="t", partition=1, offset=7, key=b"k", value=b"\x00raw")
    letter = dead_letter_of(message, InvalidEventError("base_model has \x00"))
    again = dead_letter_of(message, InvalidEventError("base_model has \x00"))
    assert letter["event_id"] == again["event_id"]  # a replay repeats the same letter
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        "t",
        1,
        7,
    )
    assert letter["reason"] == "base_model has \\x00"
    assert letter["payload"] == b"\x00raw" and letter["error_type"] == "InvalidEventError"
