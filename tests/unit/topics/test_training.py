from __future__ import annotations

import pytest

from tests.support.samples import STOP_COMMAND, sample
from tonebridge.avro.codec import decode, encode
from tonebridge.errors import SchemaValidationError
from tonebridge.job_kinds import JOB_KINDS
from tonebridge.topics.training import (
    TRAINING_COMMANDS_TOPIC,
    TRAINING_CONTROL_TOPIC,
    TRAINING_STATUS_TOPIC,
    command_topic,
    training_command,
    training_status,
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


def test_job_id_is_deterministic_and_fits_the_column() -> None:
    from tonebridge.topics.training import job_id_for

    api = {"command_id": "3f2b6c1e-7a8d-5b4c-9e0f-1a2b3c4d5e6f", "job_id": None}
    assert job_id_for(api) == api["command_id"]
    policy = {"command_id": "retrain:min-corrections:model-abc:2026-11-25T10:00/2026-11-25T11:00"}
    assert job_id_for(policy) == job_id_for(dict(policy))
    assert len(job_id_for(policy)) <= 64
    assert job_id_for({"command_id": "x", "job_id": "named"}) == "named"


def test_training_commands_fit_the_schema_and_route_by_kind() -> None:
    start = training_command(
        command_id="c1",
        kind="dpo",
        requested_by="api:alice",
        job_id="c1",
        base_model="b",
        config={"beta": 0.1},
        reason="r",
    )
    decoded = decode(encode("TrainingCommand", start)).record
    assert (decoded["kind"], decoded["job_id"], decoded["config_json"]) == (
        "dpo",
        "c1",
        '{"beta": 0.1}',
    )
    assert decoded["requested_by"] == "api:alice"
    stop = training_command(command_id="c2", kind="stop", requested_by="api:alice", job_id="j1")
    assert command_topic(stop) is TRAINING_CONTROL_TOPIC
    TRAINING_CONTROL_TOPIC.encode(stop)


def test_status_keeps_progress_fields_and_fits_its_schema() -> None:
    record = training_status(
        "job", "cmd", "running", step=3, total_steps=10, loss=0.5, eta_seconds=None, junk=1
    )
    back = decode(encode("TrainingStatus", record)).record
    assert (back["step"], back["total_steps"], back["loss"]) == (3, 10, 0.5)
    assert back["eta_seconds"] is None
    assert "junk" not in record
