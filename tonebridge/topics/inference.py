"""Which model served a request and how it went: ``tonebridge.inference.outcomes.v1``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tonebridge.avro.codec import Record
from tonebridge.topics.spec import TopicSpec, event_header

INFERENCE_OUTCOME = "InferenceOutcome"


def _outcome_key(record: Mapping[str, Any]) -> str | None:
    # A/B outcomes share a partition with their test's commands (same key, same partition
    # count), so the A/B agent sees a test's definition and its outcomes on one partition.
    key = record.get("ab_test_id") or record["model_id"]
    return None if key is None else str(key)


INFERENCE_OUTCOMES_TOPIC = TopicSpec(
    "tonebridge.inference.outcomes.v1", (INFERENCE_OUTCOME,), _outcome_key
)


def inference_outcome(
    *,
    request_id: str,
    model_id: str,
    ab_test_id: str | None = None,
    arm_id: str | None = None,
    transformation_type: str | None = None,
    success: bool | None = None,
    metrics: Mapping[str, float] | None = None,
    event_id: str | None = None,
    event_time: datetime | None = None,
) -> Record:
    """An InferenceOutcome record."""
    return {
        **event_header(event_id, event_time),
        "request_id": request_id,
        "model_id": model_id,
        "ab_test_id": ab_test_id,
        "arm_id": arm_id,
        "transformation_type": transformation_type,
        "success": success,
        "metrics": dict(metrics or {}),
    }
