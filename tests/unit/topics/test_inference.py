from __future__ import annotations

from tonebridge.avro.codec import decode
from tonebridge.topics.inference import (
    INFERENCE_OUTCOME,
    INFERENCE_OUTCOMES_TOPIC,
    inference_outcome,
)


def test_outcomes_are_keyed_by_ab_test_when_in_one_else_by_model() -> None:
    plain = inference_outcome(request_id="r1", model_id="tone-formal-3")
    in_test = inference_outcome(request_id="r2", model_id="tone-formal-3", ab_test_id="ab-9")
    assert INFERENCE_OUTCOMES_TOPIC.encode(plain).key == b"tone-formal-3"
    assert INFERENCE_OUTCOMES_TOPIC.encode(in_test).key == b"ab-9"


def test_builder_output_round_trips() -> None:
    record = inference_outcome(
        request_id="r1",
        model_id="m",
        ab_test_id="ab",
        arm_id="treatment",
        success=True,
        metrics={"latency_ms": 120.0},
    )
    decoded = decode(INFERENCE_OUTCOMES_TOPIC.encode(record).value, expect=INFERENCE_OUTCOME)
    assert decoded.record == record
    assert INFERENCE_OUTCOMES_TOPIC.base == "tonebridge.inference.outcomes.v1"
