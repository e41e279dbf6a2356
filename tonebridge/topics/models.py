"""Model lifecycle: registry events and commands to the registry.

ModelRegistered and ModelChanged share ``tonebridge.models.events.v1``, keyed by registered
model name, so a watcher sees a model's registrations and deployments in the order they happened.
"""

from __future__ import annotations

from tonebridge.topics.spec import TopicSpec, field

MODEL_REGISTERED = "ModelRegistered"
MODEL_CHANGED = "ModelChanged"
MODEL_COMMAND = "ModelCommand"

MODEL_EVENTS_TOPIC = TopicSpec(
    "tonebridge.models.events.v1", (MODEL_REGISTERED, MODEL_CHANGED), field("name")
)
MODEL_COMMANDS_TOPIC = TopicSpec(
    "tonebridge.models.commands.v1", (MODEL_COMMAND,), field("model_id")
)
