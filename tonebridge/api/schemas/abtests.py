"""A/B test requests and results."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tonebridge.api.schemas.common import Id, Reason, ShortText, Strict
from tonebridge.api.schemas.feedback import MetricName
from tonebridge.decisions.abtest_input import MAX_ARMS, MAX_METRICS

YEAR_S = 366 * 86_400  # the longest time limit a test may have


class ArmIn(Strict):
    arm_id: Id
    model_id: Id
    weight: float = Field(default=1.0, gt=0, le=1000, description="Normalised over the arms.")


class MetricIn(Strict):
    name: MetricName = Field(description="success, or a key of the outcomes' metrics.")
    kind: Literal["binary", "continuous"] = "binary"
    higher_is_better: bool = True
    guardrail: bool = Field(
        default=False, description="Significantly worse ends the test and asks for a rollback."
    )


class ABTestRequest(Strict):
    name: ShortText
    arms: list[ArmIn] = Field(min_length=2, max_length=MAX_ARMS)
    metrics: list[MetricIn] = Field(
        default_factory=lambda: [MetricIn(name="success")], min_length=1, max_length=MAX_METRICS
    )
    alpha: float = Field(default=0.05, gt=0, le=0.5)
    min_samples: int = Field(default=100, ge=1, le=10_000_000, description="Per arm.")
    control_arm: Id | None = Field(default=None, description="Defaults to the first arm.")
    reason: Reason | None = None
    max_samples: int | None = Field(
        default=None,
        ge=2,
        le=1_000_000_000,
        description="Per arm: once every arm has this many, the test ends as no_difference.",
    )
    max_duration_seconds: int | None = Field(
        default=None,
        ge=1,
        le=YEAR_S,
        description="The test ends as expired this long after it started, undecided or not.",
    )
    idle_timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        le=YEAR_S,
        description="The test ends as no_traffic when no outcome came for this long.",
    )
    expected_samples: int | None = Field(
        default=None,
        ge=2,
        le=10_000_000,
        description="Planned samples per arm (the smallest): the horizon-aware test decides.",
    )
    covariate: MetricName | None = Field(
        default=None,
        description="The outcomes' metrics key holding a pre-exposure covariate (CUPED).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ABTestRequest:
        arm_ids = [arm.arm_id for arm in self.arms]
        if len(set(arm_ids)) != len(arm_ids):
            msg = "arm_id values must be unique"
            raise ValueError(msg)
        if len({arm.model_id for arm in self.arms}) != len(self.arms):
            msg = "each arm must serve a different model_id"
            raise ValueError(msg)
        if self.control_arm is not None and self.control_arm not in arm_ids:
            msg = f"control_arm {self.control_arm!r} is not one of the arms {arm_ids}"
            raise ValueError(msg)
        if len({m.name for m in self.metrics}) != len(self.metrics):
            msg = "metric names must be unique"
            raise ValueError(msg)
        if self.max_samples is not None and self.max_samples < self.min_samples:
            msg = f"max_samples ({self.max_samples}) must be at least min_samples"
            raise ValueError(msg)
        if self.covariate is not None and self.covariate in {m.name for m in self.metrics}:
            msg = "the covariate cannot also be a metric"
            raise ValueError(msg)
        return self


class ABTestAccepted(BaseModel):
    test_id: str
    command_id: str
    status: str
    results_url: str


class ABTestResults(BaseModel):
    test_id: str
    name: str
    status: Literal["active", "paused", "completed"]
    arms: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    winner_model_id: str | None
    verdict: dict[str, Any] = Field(description="The decision's statistics, once decided.")
    live: dict[str, Any] | None = Field(
        default=None, description="Running per-arm statistics from the stream agents."
    )
    created_at: datetime
    completed_at: datetime | None


class ABTestPage(BaseModel):
    """A/B tests as stored (``live`` is left out of a list: see each test's results)."""

    items: list[ABTestResults]
    limit: int
    offset: int
