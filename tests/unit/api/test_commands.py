from __future__ import annotations

import uuid

from tonebridge.api.auth import Principal, Scope
from tonebridge.api.commands import ab_test_command, command_id_for, model_command, training_command
from tonebridge.avro.codec import decode, encode
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC
from tonebridge.topics.training import TRAINING_CONTROL_TOPIC, command_topic

ALICE = Principal("alice", frozenset(Scope))
BOB = Principal("bob", frozenset(Scope))


def test_command_ids_are_stable_per_caller_key_and_purpose() -> None:
    first = command_id_for(ALICE, "k", "/train")
    assert first == command_id_for(ALICE, "k", "/train")
    others = {
        command_id_for(BOB, "k", "/train"),
        command_id_for(ALICE, "k2", "/train"),
        command_id_for(ALICE, "k", "/rlhf/start"),
    }
    assert first not in others and len(others) == 3
    assert uuid.UUID(first).version == 5


def test_without_a_key_every_command_is_new() -> None:
    assert command_id_for(ALICE, None, "/train") != command_id_for(ALICE, None, "/train")


def test_training_commands_fit_the_schema_and_route_by_kind() -> None:
    start = training_command(
        "c1", "dpo", ALICE, job_id="c1", base_model="b", config={"beta": 0.1}, reason="r"
    )
    decoded = decode(encode("TrainingCommand", start)).record
    assert (decoded["kind"], decoded["job_id"], decoded["config_json"]) == (
        "dpo",
        "c1",
        '{"beta": 0.1}',
    )
    assert decoded["requested_by"] == "api:alice"
    stop = training_command("c2", "stop", ALICE, job_id="j1")
    assert command_topic(stop) is TRAINING_CONTROL_TOPIC
    TRAINING_CONTROL_TOPIC.encode(stop)


def test_model_and_ab_commands_fit_their_topics() -> None:
    MODEL_COMMANDS_TOPIC.encode(model_command("c", "deploy", "m1", ALICE, None))
    arms = [{"arm_id": "a", "model_id": "m1", "weight": 1.0}]
    ABTEST_COMMANDS_TOPIC.encode(ab_test_command("t1", "create", name="n", arms=arms))
    ABTEST_COMMANDS_TOPIC.encode(ab_test_command("t1", "stop", reason="done"))
