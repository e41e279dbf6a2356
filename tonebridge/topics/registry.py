"""Every topic tonebridge uses, for ``tonebridge topics create`` and lookups by name."""

from __future__ import annotations

from tonebridge.settings import Settings
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC, MODEL_EVENTS_TOPIC
from tonebridge.topics.spec import TopicSpec
from tonebridge.topics.training import (
    TRAINING_COMMANDS_TOPIC,
    TRAINING_CONTROL_TOPIC,
    TRAINING_STATUS_TOPIC,
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    FEEDBACK_TOPIC,
    INFERENCE_OUTCOMES_TOPIC,
    TRAINING_COMMANDS_TOPIC,
    TRAINING_CONTROL_TOPIC,
    TRAINING_STATUS_TOPIC,
    MODEL_EVENTS_TOPIC,
    MODEL_COMMANDS_TOPIC,
    ABTEST_COMMANDS_TOPIC,
    ABTEST_VERDICTS_TOPIC,
    DEADLETTER_TOPIC,
)

# Pairs that must keep equal partition counts: the key of one is joined with the other's.
COPARTITIONED: tuple[tuple[TopicSpec, TopicSpec], ...] = (
    (ABTEST_COMMANDS_TOPIC, INFERENCE_OUTCOMES_TOPIC),
)


def by_name(settings: Settings, name: str) -> TopicSpec:
    """The spec of the full topic ``name`` under ``settings``' prefix."""
    for spec in ALL_TOPICS:
        if spec.name(settings) == name:
            return spec
    msg = f"no tonebridge topic named {name!r}"
    raise KeyError(msg)
