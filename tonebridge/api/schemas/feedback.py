"""Feedback and inference-outcome ingestion: one event, or a batch of them."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from tonebridge import rules
from tonebridge.api.schemas.common import Clean, EventFields, Id, Name, ShortText, Strict, Text
from tonebridge.avro.codec import Record
from tonebridge.topics.feedback import feedback_event
from tonebridge.topics.inference import inference_outcome

MAX_BATCH = 1000
MetricName = Annotated[str, Field(min_length=1, max_length=rules.METADATA_KEY_LENGTH), Clean]
Metadata = dict[
    Annotated[str, Field(max_length=rules.METADATA_KEY_LENGTH), Clean],
    Annotated[str, Field(max_length=rules.METADATA_VALUE_LENGTH), Clean],
]


class FeedbackIn(EventFields):
    """A user's rating (1-5) and/or correction of one rewrite."""

    user_id: ShortText
    session_id: ShortText | None = None
    model_id: Id = Field(description="The model that produced output_text.")
    input_text: Text
    output_text: Text
    corrected_text: Text | None = None
    transformation_type: Name = Field(description="Target tone: formal, casual, polite...")
    rating: int | None = Field(default=None, ge=1, le=5, description="1 (bad) to 5 (good).")
    feedback_type: Literal["rating", "correction", "both"] | None = Field(
        default=None, description="Derived from rating and corrected_text when left out."
    )
    metadata: Metadata = Field(default_factory=dict, max_length=rules.METADATA_ENTRIES)

    @model_validator(mode="after")
    def _rating_or_correction(self) -> FeedbackIn:
        if self.rating is None and self.corrected_text is None:
            msg = "give a rating, a corrected_text, or both"
            raise ValueError(msg)
        return self

    def to_record(self) -> Record:
        """The ``FeedbackEvent`` Avro record."""
        fields = self.event_fields()
        return feedback_event(**fields, event_id=str(self.event_id), event_time=self.event_time)


class FeedbackBatch(Strict):
    events: list[FeedbackIn] = Field(min_length=1, max_length=MAX_BATCH)


class OutcomeIn(EventFields):
    """Which model served one request and how it went (feeds A/B tests)."""

    request_id: ShortText
    model_id: Id
    ab_test_id: Id | None = None
    arm_id: Id | None = None
    transformation_type: Name | None = None
    success: bool | None = Field(default=None, description="Did the user accept the rewrite?")
    metrics: dict[MetricName, float] = Field(
        default_factory=dict,
        max_length=rules.METADATA_ENTRIES,
        description="Numeric outcomes, e.g. latency_ms.",
    )

    @field_validator("metrics")
    @classmethod
    def _finite(cls, metrics: dict[str, float]) -> dict[str, float]:
        bad = sorted(name for name, value in metrics.items() if not math.isfinite(value))
        if bad:
            msg = f"metrics must be finite numbers: {', '.join(bad)}"
            raise ValueError(msg)
        return metrics

    def to_record(self) -> Record:
        """The ``InferenceOutcome`` Avro record."""
        fields = self.event_fields()
        return inference_outcome(**fields, event_id=str(self.event_id), event_time=self.event_time)


class OutcomeBatch(Strict):
    events: list[OutcomeIn] = Field(min_length=1, max_length=MAX_BATCH)


class IngestAccepted(BaseModel):
    """The broker acknowledged every event (acks=all)."""

    accepted: int
    event_ids: list[str]


class ModelStats(BaseModel):
    """Windowed summaries (``all_time``, ``last_hour``, ``last_day``: count, mean rating,
    correction rate, ...), windows ending at the newest event (event time)."""

    overall: dict[str, Any]
    by_type: dict[str, dict[str, Any]] = Field(description="Per transformation type.")


class FeedbackStats(BaseModel):
    models: dict[str, ModelStats]
