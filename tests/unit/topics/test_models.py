from __future__ import annotations

from tests.support.samples import sample
from tonebridge.topics.models import (
    MODEL_CHANGED,
    MODEL_COMMANDS_TOPIC,
    MODEL_EVENTS_TOPIC,
    MODEL_REGISTERED,
)


def test_registered_and_changed_share_one_topic_keyed_by_model_name() -> None:
    assert MODEL_EVENTS_TOPIC.base == "tonebridge.models.events.v1"
    registered = MODEL_EVENTS_TOPIC.encode(sample(MODEL_REGISTERED, 1), MODEL_REGISTERED)
    changed = MODEL_EVENTS_TOPIC.encode(sample(MODEL_CHANGED, 2), MODEL_CHANGED)
    assert registered.key == changed.key == b"tone-formal"


def test_model_commands_are_keyed_by_model_id() -> None:
    assert MODEL_COMMANDS_TOPIC.base == "tonebridge.models.commands.v1"
    assert MODEL_COMMANDS_TOPIC.encode(sample("ModelCommand", 4)).key == b"tone-formal:5"
