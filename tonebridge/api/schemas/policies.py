"""``GET /policies``: the retraining policies that run, and where each stands per model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from tonebridge.decisions.policy_progress import FiresWhen, Progress
from tonebridge.decisions.retraining import Policy


class PolicyState(BaseModel):
    """One policy for one model: how close it is to firing. Times are event times: the
    policies judge the model's newest event, not the clock."""

    as_of: datetime = Field(description="The model's newest event counted.")
    fires_when: FiresWhen = Field(
        description="How value is compared with threshold; on_lost_test: on an A/B verdict."
    )
    measure: str | None = Field(
        description="corrections or new_samples since the model's last training; "
        "mean_rating or correction_rate over the policy's window."
    )
    value: float | None
    threshold: float | None
    samples: int = Field(description="Events the value is judged on.")
    min_samples: int = Field(description="Fewer events than this judge nothing.")
    met: bool = Field(description="The comparison holds now.")
    armed: bool = Field(description="False after a rate policy fired, until rearm_at.")
    rearm_at: float | None
    due_at: datetime | None = Field(description="Schedules: the next boundary.")
    last_fired_at: datetime | None
    cooldown_until: datetime | None
    cooling: bool = Field(description="Quiet until cooldown_until.")

    @classmethod
    def of(cls, progress: Progress) -> PolicyState:
        return cls(
            as_of=_time(progress.as_of_ms),
            fires_when=progress.fires_when,
            measure=progress.measure,
            value=progress.value,
            threshold=progress.threshold,
            samples=progress.samples,
            min_samples=progress.min_samples,
            met=progress.met,
            armed=progress.armed,
            rearm_at=progress.rearm_at,
            due_at=_maybe_time(progress.due_ms),
            last_fired_at=_maybe_time(progress.last_fired_ms),
            cooldown_until=_maybe_time(progress.cooldown_until_ms),
            cooling=progress.cooling,
        )


class PolicyView(BaseModel):
    name: str
    kind: str
    definition: dict[str, Any] = Field(description="The policy as loaded, defaults filled in.")
    models: dict[str, PolicyState] = Field(
        description="Per model with feedback that the policy applies to."
    )

    @classmethod
    def of(cls, policy: Policy, states: dict[str, PolicyState]) -> PolicyView:
        definition = policy.model_dump(mode="json")
        return cls(name=policy.name, kind=policy.kind, definition=definition, models=states)


class Policies(BaseModel):
    enabled: bool = Field(description="False: RETRAIN_ENABLED=false, no policy runs.")
    source: str = Field(description="default (the packaged file) or RETRAIN_POLICIES_FILE.")
    policies: list[PolicyView]


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _maybe_time(ms: int | None) -> datetime | None:
    return None if ms is None else _time(ms)
