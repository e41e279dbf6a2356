"""User feedback on rewrites: ``tonebridge.feedback.v1``, keyed by the model that was rated."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from tonebridge.avro.codec import Record
from tonebridge.topics.spec import TopicSpec, event_header, field

FEEDBACK_EVENT = "FeedbackEvent"

# Keyed by model_id so one partition holds every rating of a model: per-model stats need no
# repartition.
FEEDBACK_TOPIC = TopicSpec("tonebridge.feedback.v1", (FEEDBACK_EVENT,), field("model_id"))


def feedback_event(
    *,
    user_id: str,
    model_id: str,
    input_text: str,
    output_text: str,
    transformation_type: str,
    rating: int | None = None,
    corrected_text: str | None = None,
    session_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    feedback_type: str | None = None,
    event_id: str | None = None,
    event_time: datetime | None = None,
) -> Record:
    """A FeedbackEvent record; ``feedback_type``, unless stated, follows from what was given."""
    return {
        **event_header(event_id, event_time),
        "user_id": user_id,
        "session_id": session_id,
        "model_id": model_id,
        "input_text": input_text,
        "output_text": output_text,
        "corrected_text": corrected_text,
        "transformation_type": transformation_type,
        "rating": rating,
        "feedback_type": feedback_type or _feedback_type(rating, corrected_text),
        "metadata": dict(metadata or {}),
    }


def _feedback_type(rating: int | None, corrected_text: str | None) -> str:
    if rating is not None and corrected_text is not None:
        return "both"
    return "correction" if corrected_text is not None else "rating"
