"""Retraining policies: when a model's feedback should start a training job (pure).

A policy file (YAML; ``RETRAIN_POLICIES_FILE``, else the packaged :data:`DEFAULT_FILE`;
none with ``RETRAIN_ENABLED=false``) lists policies; each names a ``kind``:

``min_corrections``        ``threshold`` corrected samples since the model's last training.
``mean_rating_below``      the mean rating over ``window`` fell below ``threshold``.
``correction_rate_above``  the share of corrected rewrites over ``window`` rose above it.
``lost_ab_test``           the model lost an A/B test (or broke one of its guardrails).
``schedule``               once a boundary of ``every`` (event time) passed since the model's
                           last training, if ``min_new_samples`` arrived since then.

Rates are judged only on ``min_samples`` events or more in the window. Hysteresis: a rate
policy that fired stays disarmed until the rate crosses back over ``rearm_at``. ``cooldown``
(event time) keeps a policy quiet for a while after it fired. ``models`` are glob patterns of
model ids (default all). ``training`` holds the TrainingCommand to send (``kind``,
``base_model``, ``config``, ...). Durations are ``90s``, ``15m``, ``6h`` or ``7d``.

:mod:`~tonebridge.decisions.policy_progress` says how close a policy is to firing for one
model (``GET /policies``).

Every trigger carries a deterministic ``command_id`` made of the policy, the model and the
window that fired it, so a replay or a second worker makes the same command, and the trainer
makes one job of it. All times are event times (the newest event the model's state has seen).
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tonebridge.errors import ConfigError
from tonebridge.job_kinds import TrainingKind
from tonebridge.topics.training import POLICY_REQUESTER, training_command

Window = Literal["last_hour", "last_day", "all_time"]
_DURATION = re.compile(r"^(?P<n>\d+)(?P<unit>ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# Namespace of the command ids: uuid5(_NAMESPACE, "policy|model|window").
_NAMESPACE = uuid.UUID("3f1d2a52-7c56-4c1e-9a43-5b0c2d7e9f10")
# What runs when no file is configured; each threshold is explained in the file.
DEFAULT_FILE = Path(__file__).with_name("default_policies.yaml")


def parse_duration_ms(text: str | int) -> int:
    """``"6h"`` -> 21_600_000; a bare number is milliseconds."""
    if isinstance(text, int):
        return text
    match = _DURATION.match(text.strip())
    if match is None:
        msg = f"not a duration: {text!r} (use e.g. 90s, 15m, 6h, 7d)"
        raise ValueError(msg)
    return int(match["n"]) * _UNIT_MS[match["unit"]]


class TrainingSpec(BaseModel):
    """The TrainingCommand a policy sends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TrainingKind = "sft"
    base_model: str | None = None
    model_type: str = "tone_adjustment"
    dataset_id: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class _Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    models: tuple[str, ...] = ("*",)
    cooldown_ms: int = 0
    training: TrainingSpec = TrainingSpec()

    @field_validator("cooldown_ms", mode="before")
    @classmethod
    def _duration(cls, value: str | int) -> int:
        return parse_duration_ms(value)

    def applies_to(self, model_id: str) -> bool:
        return any(fnmatch.fnmatchcase(model_id, pattern) for pattern in self.models)


class MinCorrections(_Base):
    kind: Literal["min_corrections"]
    threshold: int = Field(ge=1)


class MeanRatingBelow(_Base):
    kind: Literal["mean_rating_below"]
    threshold: float = Field(gt=1, le=5)
    rearm_at: float | None = None  # default: threshold + 0.25
    window: Window = "last_day"
    min_samples: int = Field(default=50, ge=1)


class CorrectionRateAbove(_Base):
    kind: Literal["correction_rate_above"]
    threshold: float = Field(gt=0, lt=1)
    rearm_at: float | None = None  # default: threshold - 0.05
    window: Window = "last_day"
    min_samples: int = Field(default=50, ge=1)


class LostABTest(_Base):
    kind: Literal["lost_ab_test"]


class Schedule(_Base):
    kind: Literal["schedule"]
    every_ms: int
    min_new_samples: int = Field(default=1, ge=0)

    @field_validator("every_ms", mode="before")
    @classmethod
    def _every(cls, value: str | int) -> int:
        return parse_duration_ms(value)


Policy = Annotated[
    MinCorrections | MeanRatingBelow | CorrectionRateAbove | LostABTest | Schedule,
    Field(discriminator="kind"),
]


class PolicyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    policies: tuple[Policy, ...] = ()


def parse_policies(data: Mapping[str, Any]) -> tuple[Policy, ...]:
    """Policies from a decoded policy file; ``cooldown``/``every`` keys take durations."""
    items = [_renamed(dict(p)) for p in data.get("policies") or ()]
    try:
        policies = PolicyFile(policies=items).policies
    except ValidationError as exc:
        msg = f"invalid retraining policies: {exc}"
        raise ConfigError(msg) from exc
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        msg = "retraining policy names must be unique"
        raise ConfigError(msg)
    return policies


def _renamed(item: dict[str, Any]) -> dict[str, Any]:
    for short, full in (("cooldown", "cooldown_ms"), ("every", "every_ms")):
        if short in item:
            item[full] = item.pop(short)
    return item


def policies_in_force(path: Path | None, enabled: bool = True) -> tuple[Policy, ...]:
    """What the worker runs: none when retraining is off, else ``path``'s or the default's."""
    return load_policies(path or DEFAULT_FILE) if enabled else ()


def load_policies(path: Path | None) -> tuple[Policy, ...]:
    """Policies from a YAML file; none without a file."""
    if path is None:
        return ()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read retraining policies from {path}: {exc}"
        raise ConfigError(msg) from exc
    return parse_policies(data)


@dataclass(frozen=True, slots=True)
class Observation:
    """What a policy sees of one model, at event time ``now_ms``."""

    model_id: str
    now_ms: int
    since_ms: int  # the model's last training (or the first event seen)
    new_samples: int  # feedback events since then
    new_corrections: int  # corrected rewrites since then
    windows: Mapping[Window, tuple[int, float | None, float | None]]  # count, mean, corr. rate


@dataclass(frozen=True, slots=True)
class Memory:
    """A policy's memory for one model: hysteresis and cooldown."""

    armed: bool = True
    last_fired_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"armed": self.armed, "last_fired_ms": self.last_fired_ms}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        return cls(bool(data["armed"]), data["last_fired_ms"])


@dataclass(frozen=True, slots=True)
class Trigger:
    policy: str
    model_id: str
    window: str  # what fired, e.g. "since:1700000000000" or "last_day@1700000300000"
    reason: str

    @property
    def command_id(self) -> str:
        return command_id(self.policy, self.model_id, self.window)


def command_id(policy: str, model_id: str, window: str) -> str:
    """Deterministic: the same policy, model and window always give the same id."""
    return str(uuid.uuid5(_NAMESPACE, f"{policy}|{model_id}|{window}"))


def _cooling(policy: _Base, memory: Memory, now_ms: int) -> bool:
    last = memory.last_fired_ms
    return last is not None and now_ms - last < policy.cooldown_ms


def rearm_at(policy: MeanRatingBelow | CorrectionRateAbove) -> float:
    if policy.rearm_at is not None:
        return policy.rearm_at
    return policy.threshold + (0.25 if isinstance(policy, MeanRatingBelow) else -0.05)


def rate_check(
    policy: MeanRatingBelow | CorrectionRateAbove, obs: Observation
) -> tuple[float | None, bool, bool]:
    """The window's value, whether it breaches the threshold, whether it re-arms."""
    count, mean, rate = obs.windows[policy.window]
    rearm = rearm_at(policy)
    if isinstance(policy, MeanRatingBelow):
        if mean is None or count < policy.min_samples:
            return mean, False, False
        return mean, mean < policy.threshold, mean >= rearm
    if rate is None or count < policy.min_samples:
        return rate, False, False
    return rate, rate > policy.threshold, rate <= rearm


def _rate_policy(
    policy: MeanRatingBelow | CorrectionRateAbove, obs: Observation, memory: Memory
) -> tuple[Memory, Trigger | None]:
    value, breached, rearms = rate_check(policy, obs)
    if not memory.armed:
        return (replace(memory, armed=True) if rearms else memory), None
    if not breached or _cooling(policy, memory, obs.now_ms):
        return memory, None
    bucket = obs.now_ms - obs.now_ms % 300_000
    reason = f"{policy.kind} {policy.threshold} over {policy.window}: {value:.3f}"
    trigger = Trigger(policy.name, obs.model_id, f"{policy.window}@{bucket}", reason)
    return Memory(armed=False, last_fired_ms=obs.now_ms), trigger


def _count_policy(
    policy: MinCorrections | Schedule, obs: Observation, memory: Memory
) -> tuple[Memory, Trigger | None]:
    if _cooling(policy, memory, obs.now_ms):
        return memory, None
    if isinstance(policy, MinCorrections):
        if obs.new_corrections < policy.threshold:
            return memory, None
        window = f"since:{obs.since_ms}"
        reason = f"{obs.new_corrections} corrections since the last training"
    else:
        period = obs.now_ms // policy.every_ms
        due = obs.since_ms // policy.every_ms < period  # a boundary passed since training
        if not due or obs.new_samples < max(policy.min_new_samples, 1):
            return memory, None
        window = f"every:{policy.every_ms}:{period}"
        reason = f"scheduled every {policy.every_ms} ms; {obs.new_samples} new samples"
    return Memory(True, obs.now_ms), Trigger(policy.name, obs.model_id, window, reason)


def uses_windows(policy: Policy) -> bool:
    """Whether the policy judges windowed rates (``Observation.windows``)."""
    return isinstance(policy, MeanRatingBelow | CorrectionRateAbove)


def evaluate(policy: Policy, obs: Observation, memory: Memory) -> tuple[Memory, Trigger | None]:
    """One policy on one model's observation: the policy's new memory and maybe a trigger."""
    if not policy.applies_to(obs.model_id) or isinstance(policy, LostABTest):
        return memory, None
    if isinstance(policy, MeanRatingBelow | CorrectionRateAbove):
        return _rate_policy(policy, obs, memory)
    return _count_policy(policy, obs, memory)


def on_lost_test(
    policies: Sequence[Policy], test_id: str, losers: Sequence[str], reason: str
) -> list[Trigger]:
    """Triggers for the models that lost A/B test ``test_id`` (one per policy and model)."""
    return [
        Trigger(p.name, model_id, f"ab:{test_id}", reason)
        for p in policies
        if isinstance(p, LostABTest)
        for model_id in losers
        if p.applies_to(model_id)
    ]


def trigger_command(
    trigger: Trigger, policy: Policy, event_time: datetime, feedback_since_ms: int | None
) -> dict[str, Any]:
    """The TrainingCommand record of a trigger; its event id is the command id (replays)."""
    spec = policy.training
    return training_command(
        command_id=trigger.command_id,
        kind=spec.kind,
        requested_by=f"{POLICY_REQUESTER}{policy.name}",
        model_id=trigger.model_id,
        base_model=spec.base_model,
        model_type=spec.model_type,
        dataset_id=spec.dataset_id,
        feedback_since=None if feedback_since_ms is None else _from_ms(feedback_since_ms),
        config=spec.config,
        reason=trigger.reason,
        event_id=trigger.command_id,
        event_time=event_time,
    )


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
