from __future__ import annotations

import pytest

from tests.support.samples import STOP_COMMAND, sample
from tonebridge.errors import SchemaValidationError
from tonebridge.topics.training import (
    JOB_KINDS,
    TRAINING_COMMANDS_TOPIC,
    TRAINING_CONTROL_TOPIC,
    TRAINING_STATUS_TOPIC,
    command_topic,
)


@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_job_commands_go_to_the_commands_topic_keyed_by_command_id(kind: str) -> None:
    command = sample("TrainingCommand") | {"kind": kind}
    spec = command_topic(command)
    assert spec is TRAINING_COMMANDS_TOPIC
    assert spec.base == "tonebridge.training.commands.v1"
    assert spec.encode(command).key == command["command_id"].encode()


def test_stop_goes_to_the_control_topic_keyed_by_job_id() -> None:
    stop = STOP_COMMAND(3)
    spec = command_topic(stop)
    assert spec is TRAINING_CONTROL_TOPIC
    assert spec.base == "tonebridge.training.control.v1"
    assert spec.encode(stop).key == b"job-3"


def test_a_command_on_the_wrong_topic_is_refused() -> None:
    with pytest.raises(SchemaValidationError, match="control topic"):
        TRAINING_COMMANDS_TOPIC.encode(STOP_COMMAND(1))
    with pytest.raises(SchemaValidationError, match="commands topic"):
        TRAINING_CONTROL_TOPIC.encode(sample("TrainingCommand") | {"job_id": "job-1"})


def test_a_stop_without_job_is_refused() -> None:
    with pytest.raises(SchemaValidationError, match="key"):
        TRAINING_CONTROL_TOPIC.encode(STOP_COMMAND(1) | {"job_id": None})


def test_status_is_keyed_by_job() -> None:
    assert TRAINING_STATUS_TOPIC.base == "tonebridge.training.status.v1"
    assert TRAINING_STATUS_TOPIC.encode(sample("TrainingStatus", 5)).key == b"job-5"
