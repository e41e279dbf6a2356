from __future__ import annotations

from datetime import UTC, datetime

from tests.support.samples import sample
from tonebridge.avro.codec import decode, encode
from tonebridge.topics.models import (
    MODEL_CHANGED,
    MODEL_COMMANDS_TOPIC,
    MODEL_EVENTS_TOPIC,
    MODEL_REGISTERED,
    model_changed,
    model_command,
    model_registered,
)


def test_registered_and_changed_share_one_topic_keyed_by_model_name() -> None:
    assert MODEL_EVENTS_TOPIC.base == "tonebridge.models.events.v1"
    registered = MODEL_EVENTS_TOPIC.encode(sample(MODEL_REGISTERED, 1), MODEL_REGISTERED)
    changed = MODEL_EVENTS_TOPIC.encode(sample(MODEL_CHANGED, 2), MODEL_CHANGED)
    assert registered.key == changed.key == b"tone-formal"


def test_model_commands_are_keyed_by_model_id() -> None:
    assert MODEL_COMMANDS_TOPIC.base == "tonebridge.models.commands.v1"
    assert MODEL_COMMANDS_TOPIC.encode(sample("ModelCommand", 4)).key == b"tone-formal:5"


def test_registered_carries_the_feedback_range() -> None:
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    record = model_registered(
        model_id="m",
        name="tone",
        version="3",
        base_model="tiny",
        model_type="tone_adjustment",
        job_id="j",
        artifact_uri="file:///a",
        dataset_id="d",
        feedback_from=start,
        feedback_to=end,
        feedback_count=42,
        metrics={"chrf": 51.0},
        mlflow_run_id="r",
    )
    back = decode(encode("ModelRegistered", record)).record
    assert (back["feedback_from"], back["feedback_to"], back["feedback_count"]) == (start, end, 42)
    assert back["metrics"] == {"chrf": 51.0}


def test_changed_fits_its_schema() -> None:
    record = model_changed(
        model_id="m",
        name="tone",
        version="2",
        change="rolled_back",
        artifact_uri="u",
        base_model="b",
    )
    assert decode(encode("ModelChanged", record)).record["change"] == "rolled_back"


def test_a_model_command_fits_its_topic() -> None:
    command = model_command(command_id="c", action="deploy", model_id="m1", requested_by="api:a")
    assert MODEL_COMMANDS_TOPIC.encode(command).key == b"m1"
