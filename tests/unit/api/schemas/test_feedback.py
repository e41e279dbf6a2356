from __future__ import annotations

import pytest
from pydantic import ValidationError

from tonebridge.api.schemas.feedback import FeedbackBatch, FeedbackIn, OutcomeIn
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC

BASE = {
    "user_id": "u",
    "model_id": "m1",
    "input_text": "send it asap",
    "output_text": "Send it now.",
    "transformation_type": "formal",
}


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"rating": 4}, "rating"),
        ({"corrected_text": "Please send it."}, "correction"),
        ({"rating": 2, "corrected_text": "Please send it."}, "both"),
    ],
)
def test_feedback_type_follows_from_what_was_given(fields: dict[str, object], kind: str) -> None:
    event = FeedbackIn.model_validate(BASE | fields)
    record = event.to_record()
    assert record["feedback_type"] == kind
    assert record["event_time"].tzinfo is not None
    FEEDBACK_TOPIC.encode(record)  # fits the Avro schema and the topic's key


@pytest.mark.parametrize("rating", [0, 6, 2.5])
def test_ratings_outside_one_to_five_name_the_field(rating: object) -> None:
    with pytest.raises(ValidationError) as caught:
        FeedbackIn.model_validate(BASE | {"rating": rating})
    assert caught.value.errors()[0]["loc"] == ("rating",)


def test_unknown_fields_and_naive_times_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        FeedbackIn.model_validate(BASE | {"rating": 3, "ratting": 3})
    with pytest.raises(ValidationError, match="timezone"):
        FeedbackIn.model_validate(BASE | {"rating": 3, "event_time": "2025-01-01T00:00:00"})


def test_batches_are_bounded() -> None:
    with pytest.raises(ValidationError):
        FeedbackBatch.model_validate({"events": []})
    with pytest.raises(ValidationError):
        FeedbackBatch.model_validate({"events": [BASE | {"rating": 3}] * 1001})


def test_outcome_metrics_must_be_finite() -> None:
    outcome = {"request_id": "r", "model_id": "m1", "metrics": {"latency_ms": float("inf")}}
    with pytest.raises(ValidationError, match="latency_ms"):
        OutcomeIn.model_validate(outcome)
    INFERENCE_OUTCOMES_TOPIC.encode(OutcomeIn.model_validate(outcome | {"metrics": {}}).to_record())
