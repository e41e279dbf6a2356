from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tonebridge.avro.codec import decode
from tonebridge.topics.feedback import FEEDBACK_EVENT, FEEDBACK_TOPIC, feedback_event


def rated(**extra: Any) -> dict[str, Any]:
    return feedback_event(
        user_id="u1",
        model_id="tone-formal-3",
        input_text="send it asap",
        output_text="Could you send it when you have a moment?",
        transformation_type="formal",
        **extra,
    )


def test_topic_is_keyed_by_model() -> None:
    assert FEEDBACK_TOPIC.base == "tonebridge.feedback.v1"
    assert FEEDBACK_TOPIC.schemas == (FEEDBACK_EVENT,)
    assert FEEDBACK_TOPIC.encode(rated(rating=4)).key == b"tone-formal-3"


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        ({"rating": 5}, "rating"),
        ({"corrected_text": "Please send it soon."}, "correction"),
        ({"rating": 2, "corrected_text": "Please send it soon."}, "both"),
    ],
)
def test_feedback_type_follows_what_was_given(extra: dict[str, object], kind: str) -> None:
    assert rated(**extra)["feedback_type"] == kind


def test_a_stated_feedback_type_is_kept() -> None:
    stated = rated(rating=2, corrected_text="Please send it soon.", feedback_type="rating")
    assert stated["feedback_type"] == "rating"


def test_builder_output_round_trips_through_the_topic() -> None:
    at = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    record = rated(rating=3, metadata={"app": "web"}, event_id="e-1", event_time=at)
    decoded = decode(FEEDBACK_TOPIC.encode(record).value, expect=FEEDBACK_EVENT).record
    assert decoded == record
    assert decoded["event_time"] == at
