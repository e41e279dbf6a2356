"""Builders for the agents' tests: events, Kafka messages as the agents see them, an outbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tonebridge.avro.codec import decode, encode_batch
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC, feedback_event
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC, inference_outcome
from tonebridge.topics.messages import Message, Origin
from tonebridge.topics.spec import TopicSpec, event_header, partition_for

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PARTITIONS = 4


def feedback(
    model_id: str = "model-a",
    *,
    n: int = 0,
    rating: int | None = 4,
    corrected: str | None = None,
    kind: str = "formal",
    at: datetime = T0,
) -> dict[str, Any]:
    return feedback_event(
        event_id=f"fb-{model_id}-{n}",
        event_time=at + timedelta(seconds=n),
        user_id=f"user-{n}",
        model_id=model_id,
        input_text="send it asap",
        output_text="Could you send it when you have a moment?",
        corrected_text=corrected,
        transformation_type=kind,
        rating=rating,
    )


def create_test(
    test_id: str = "ab-1",
    *,
    min_samples: int = 20,
    guardrail: str | None = None,
    at: datetime = T0,
    **limits: int,  # max_samples, max_duration_seconds, idle_timeout_seconds
) -> dict[str, Any]:
    metrics: list[dict[str, Any]] = [
        {"name": "success", "kind": "binary", "higher_is_better": True, "guardrail": False}
    ]
    if guardrail:
        metrics.append(
            {"name": guardrail, "kind": "continuous", "higher_is_better": False, "guardrail": True}
        )
    return {
        **event_header(f"create-{test_id}", at),
        "test_id": test_id,
        "action": "create",
        "name": test_id,
        "arms": [
            {"arm_id": "control", "model_id": f"{test_id}-old", "weight": 1.0},
            {"arm_id": "treatment", "model_id": f"{test_id}-new", "weight": 1.0},
        ],
        "metrics": metrics,
        "alpha": 0.05,
        "min_samples": min_samples,
        "control_arm": "control",
        "reason": None,
        **limits,
    }


def stop_test(test_id: str = "ab-1", at: datetime = T0) -> dict[str, Any]:
    return {**create_test(test_id, at=at), "event_id": f"stop-{test_id}", "action": "stop"}


# The model each arm of ``create_test`` serves: an outcome names the model of its arm.
_ARM_MODELS = {"control": "{test_id}-old", "treatment": "{test_id}-new"}


def outcome(
    test_id: str | None = "ab-1",
    arm: str = "treatment",
    *,
    n: int = 0,
    success: bool = True,
    metrics: Mapping[str, float] | None = None,
    at: datetime = T0,
) -> dict[str, Any]:
    return inference_outcome(
        event_id=f"out-{test_id}-{arm}-{n}",
        event_time=at + timedelta(milliseconds=n),
        request_id=f"req-{n}",
        model_id=_ARM_MODELS.get(arm, f"{test_id}-{arm}").format(test_id=test_id),
        ab_test_id=test_id,
        arm_id=arm,
        success=success,
        metrics=metrics,
    )


def encoded(spec: TopicSpec, records: Sequence[Mapping[str, Any]]) -> tuple[bytes, bytes]:
    """One Kafka message (key, value) holding ``records`` (an EventBatch if several)."""
    messages = [spec.encode(r) for r in records]
    value = messages[0].value if len(messages) == 1 else encode_batch([m.value for m in messages])
    return messages[0].key, value


def message(
    spec: TopicSpec, records: Sequence[Mapping[str, Any]], offset: int, topic: str | None = None
) -> Message:
    """The message as an agent receives it, on the partition its key routes to."""
    key, value = encoded(spec, records)
    origin = Origin(topic or spec.base, partition_for(key, PARTITIONS), offset, key)
    return origin, value


def feedback_message(records: Sequence[Mapping[str, Any]], offset: int) -> Message:
    return message(FEEDBACK_TOPIC, records, offset)


def command_message(record: Mapping[str, Any], offset: int) -> Message:
    return message(ABTEST_COMMANDS_TOPIC, [record], offset)


def outcome_message(records: Sequence[Mapping[str, Any]], offset: int) -> Message:
    return message(INFERENCE_OUTCOMES_TOPIC, records, offset)


class MemoryOutbox:
    """Records what an agent sends, after encoding it as the real outbox would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def publish(
        self, spec: TopicSpec, *records: Mapping[str, Any], schema: str | None = None
    ) -> None:
        for record in records:
            encoded = spec.encode(record, schema).value
            self.sent.append((spec.base, decode(encoded).record))

    def on(self, spec: TopicSpec) -> list[dict[str, Any]]:
        return [record for base, record in self.sent if base == spec.base]
