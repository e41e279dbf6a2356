"""Promotion: from a better registered model to an A/B test, from a won test to a deploy (pure).

The loop closes in two steps, each a decision on one event:

1. **ModelRegistered** — the trainer evaluated the new version on held-out feedback against
   the model it was trained from (its parent) and put both in ``metrics``: the candidate's
   ``<metric>``, the parent's ``baseline_<metric>`` and the paired bootstrap verdict
   ``vs_baseline_verdict`` (1 candidate better, 0 tie, -1 parent better). If the candidate
   beats its parent, an A/B test starts between the current production model (arm
   ``control``) and the new one (arm ``treatment``). With no production model to compare
   with, the new one is deployed at once; a model that is already production is left alone.
2. **ABTestVerdict** of a promotion test — if the ``treatment`` arm won, a ModelCommand
   deploys it. Any other verdict (control won, no difference, guardrail, stopped, expired,
   no traffic) deploys nothing: production stays as it is (a guardrail breach's rollback
   request is the A/B agent's, see :mod:`tonebridge.agents.abtests`).

Promotion tests are recognised by their id's prefix (``promotion-``), so a verdict needs no
lookup and tests started by hand (whose ids the API makes) are never deployed automatically.
The rest of the id is a hash of the ModelRegistered event's id, a random UUID: anyone who may
post outcomes could otherwise name the test of a model and force its deploy, and A/B tests
refuse outcomes that name another model than their arm serves. Every effect has a
deterministic id: replaying an event repeats the same test id and command, which its consumer
ignores (the A/B agent keeps the first create of a test id; deploying the production model
again changes nothing).

The policy is the ``promotion`` section of the policies file (``RETRAIN_POLICIES_FILE``,
next to the retraining ``policies``); without one, :data:`DEFAULT_POLICY` applies.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tonebridge.decisions.retraining import parse_duration_ms
from tonebridge.errors import ConfigError
from tonebridge.topics.abtests import abtest_command
from tonebridge.topics.models import model_command

CONTROL = "control"
TREATMENT = "treatment"
TEST_PREFIX = "promotion-"
REQUESTED_BY = "promotion"
CANDIDATE_WINS = 1.0  # vs_baseline_verdict: 1 candidate, 0 tie, -1 baseline
DAY_S = 86_400
# Namespace of the effects' ids: uuid5(_NAMESPACE, "<effect>|<test id>|...").
_NAMESPACE = uuid.UUID("b7d1c1e4-5a0f-4f5e-8d8c-0f6a2d9e3c41")


class PromotionMetric(BaseModel):
    """One metric the A/B test compares (``success`` or a key of InferenceOutcome.metrics)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    kind: Literal["binary", "continuous"]
    higher_is_better: bool = True
    guardrail: bool = False


DEFAULT_METRICS = (
    PromotionMetric(name="success", kind="binary"),
    PromotionMetric(name="rating", kind="continuous"),
)


class PromotionPolicy(BaseModel):
    """When a registered model is tried against production, and how strictly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    metric: str = Field(default="chrf", min_length=1)  # held-out metric, higher is better
    min_improvement: float = 0.0  # candidate minus parent must be above this
    require_significant: bool = True  # and the trainer's paired bootstrap must agree
    treatment_share: float = Field(default=0.5, gt=0, lt=1)  # traffic to the new model
    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_samples: int = Field(default=100, ge=2)  # per arm, before any decision
    metrics: tuple[PromotionMetric, ...] = DEFAULT_METRICS
    # A newer better candidate stops the name's running promotion test and takes its place
    # (else it waits, registered, until that test ends).
    supersede: bool = True
    # The test's limits (null: none). A test ends without a winner after the maximum duration
    # (the ModelRegistered's event time on), or when no outcome came for the idle timeout;
    # then it holds back no later candidate of the name. A duration (``14d``, ``6h``) or
    # seconds; ``max_samples`` per arm ends it as no_difference.
    max_samples: int | None = Field(default=None, ge=2)
    max_duration_seconds: int | None = Field(default=14 * DAY_S, gt=0)
    idle_timeout_seconds: int | None = Field(default=DAY_S, gt=0)
    # Planned samples per arm (the smaller arm): the test then decides with the horizon-aware
    # test (tonebridge.stats.horizon), more powerful by that size than the default mSPRT.
    expected_samples: int | None = Field(default=None, ge=2)
    # The outcomes' metrics entry holding a pre-exposure covariate (e.g. the user's mean
    # rating before the test): every metric is then compared CUPED-adjusted.
    covariate: str | None = Field(default=None, min_length=1)

    @field_validator("max_duration_seconds", "idle_timeout_seconds", mode="before")
    @classmethod
    def _seconds(cls, value: str | int | None) -> int | None:
        return parse_duration_ms(value) // 1000 if isinstance(value, str) else value

    @model_validator(mode="after")
    def _distinct_metrics(self) -> PromotionPolicy:
        names = [m.name for m in self.metrics]
        if not names or len(set(names)) != len(names):
            msg = "promotion metrics must be a non-empty list of distinct names"
            raise ValueError(msg)
        if self.max_samples is not None and self.max_samples < self.min_samples:
            msg = f"max_samples ({self.max_samples}) is below min_samples ({self.min_samples})"
            raise ValueError(msg)
        return self


DEFAULT_POLICY = PromotionPolicy()


def load_promotion(path: Path | None) -> PromotionPolicy:
    """The ``promotion`` section of a policies file (the default policy without a file)."""
    if path is None:
        return DEFAULT_POLICY
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read the promotion policy from {path}: {exc}"
        raise ConfigError(msg) from exc
    return parse_promotion(data)


def parse_promotion(data: Mapping[str, Any] | None) -> PromotionPolicy:
    """The ``promotion`` section of a decoded policies file; the default without one."""
    section = (data or {}).get("promotion")
    if section is None:
        return DEFAULT_POLICY
    try:
        return PromotionPolicy.model_validate(section)
    except ValidationError as exc:
        msg = f"invalid promotion policy: {exc}"
        raise ConfigError(msg) from exc


# --- step 1: a model was registered ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Judgement:
    """Whether a candidate beats its parent, and why (for logs and the test's reason)."""

    better: bool
    reason: str
    improvement: float | None = None


def judge_candidate(policy: PromotionPolicy, metrics: Mapping[str, float]) -> Judgement:
    """Compare a ModelRegistered's candidate metrics with its parent's (``baseline_*``)."""
    ours, theirs = metrics.get(policy.metric), metrics.get(f"baseline_{policy.metric}")
    if ours is None or theirs is None:
        return Judgement(False, f"no {policy.metric} of both the model and its parent")
    delta = ours - theirs
    shown = f"{policy.metric} {ours:.2f} vs parent {theirs:.2f}"
    if delta <= policy.min_improvement:
        return Judgement(False, f"{shown}: not better by more than {policy.min_improvement}", delta)
    verdict = metrics.get("vs_baseline_verdict")
    if policy.require_significant and verdict != CANDIDATE_WINS:
        return Judgement(False, f"{shown}: the paired bootstrap does not favour it", delta)
    return Judgement(True, f"{shown} (+{delta:.2f})", delta)


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class StartTest:
    """Send this ABTestCommand (create), after ``stop`` (the test it supersedes), if any."""

    command: dict[str, Any]
    stop: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Deploy:
    """Send this ModelCommand (deploy)."""

    command: dict[str, Any]


Step = Skip | StartTest | Deploy


def on_registered(
    policy: PromotionPolicy,
    registered: Mapping[str, Any],
    production_id: str | None,
    running_test: str | None = None,
) -> Step:
    """What to do about a ModelRegistered record, given the name's production model id and
    the promotion test already running for the name, if any. One test runs per name: a
    better newcomer supersedes it (``policy.supersede``), or waits registered for a later test
    or a deploy by hand. A test that gets no traffic ends by its idle timeout (and any test by
    its maximum duration), so it holds no later candidate back for long."""
    model_id = str(registered["model_id"])
    if not policy.enabled:
        return Skip("promotion is disabled")
    if production_id == model_id:
        return Skip(f"{model_id} is already in production")
    test_id = promotion_test_id(model_id, str(registered["event_id"]))
    other = running_test if running_test not in (None, test_id) else None
    if other is not None and not policy.supersede:
        return Skip(f"promotion test {other} is still running for {registered['name']}")
    judgement = judge_candidate(policy, registered.get("metrics") or {})
    if not judgement.better:
        return Skip(judgement.reason)
    when: datetime = registered["event_time"]
    if production_id is None:
        reason = f"no production model to test against; {judgement.reason}"
        return Deploy(deploy_command(test_id, model_id, when, reason))
    create = create_command(policy, test_id, production_id, registered, judgement)
    stop = None if other is None else stop_command(other, model_id, when)
    return StartTest(create, stop)


def stop_command(test_id: str, successor_id: str, when: datetime) -> dict[str, Any]:
    """The ABTestCommand stopping promotion test ``test_id`` for a newer candidate."""
    return abtest_command(
        test_id=test_id,
        action="stop",
        reason=f"superseded by a newer candidate, {successor_id}",
        event_id=effect_id("stop", test_id, successor_id),
        event_time=when,
    )


def promotion_test_id(model_id: str, registered_event_id: str) -> str:
    """The id of the A/B test that decides whether ``model_id`` is promoted, after the
    ModelRegistered event ``registered_event_id``: unguessable from the model id, the same
    on every replay of the event (42 characters)."""
    return f"{TEST_PREFIX}{effect_id('test', model_id, registered_event_id).replace('-', '')}"


def effect_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def create_command(
    policy: PromotionPolicy,
    test_id: str,
    production_id: str,
    registered: Mapping[str, Any],
    judgement: Judgement,
) -> dict[str, Any]:
    """The ABTestCommand creating the promotion test."""
    share = policy.treatment_share
    version = f"{registered['name']} v{registered['version']}"
    return abtest_command(
        test_id=test_id,
        action="create",
        name=f"promote {version}",
        arms=[
            {"arm_id": CONTROL, "model_id": production_id, "weight": 1.0 - share},
            {"arm_id": TREATMENT, "model_id": str(registered["model_id"]), "weight": share},
        ],
        metrics=[m.model_dump() for m in policy.metrics],
        alpha=policy.alpha,
        min_samples=policy.min_samples,
        max_samples=policy.max_samples,
        max_duration_seconds=policy.max_duration_seconds,
        idle_timeout_seconds=policy.idle_timeout_seconds,
        control_arm=CONTROL,
        reason=f"{version} beats its parent: {judgement.reason}",
        event_id=effect_id("create", test_id),
        event_time=registered["event_time"],
        expected_samples=policy.expected_samples,
        covariate=policy.covariate,
    )


def deploy_command(test_id: str, model_id: str, when: datetime, reason: str) -> dict[str, Any]:
    """The ModelCommand deploying ``model_id``; its event id is the command id (replays)."""
    command_id = effect_id("deploy", test_id, model_id)
    return model_command(
        command_id=command_id,
        action="deploy",
        model_id=model_id,
        requested_by=f"{REQUESTED_BY}:{test_id}",
        reason=reason,
        event_id=command_id,
        event_time=when,
    )


# --- step 2: an A/B test was decided -----------------------------------------------------


def is_promotion_test(test_id: str) -> bool:
    return test_id.startswith(TEST_PREFIX)


def on_verdict(verdict: Mapping[str, Any]) -> Step:
    """What to do about an ABTestVerdict record: deploy a promotion test's winning newcomer."""
    test_id = str(verdict["test_id"])
    if not is_promotion_test(test_id):
        return Skip(f"{test_id} is not a promotion test")
    decision, arm, winner = (
        verdict["decision"],
        verdict.get("winner_arm"),
        verdict.get("winner_model_id"),
    )
    if decision != "winner" or arm != TREATMENT or not winner:
        return Skip(f"{test_id}: {decision} ({arm or 'no'} arm won); production stays")
    reason = f"won A/B test {test_id} on {verdict.get('metric')}"
    effect, p_value = verdict.get("effect"), _decisive_p(verdict)
    if effect is not None:
        reason += f": effect {effect:+.3f}"
    if p_value is not None:
        reason += f", p{p_text(p_value)}"
    return Deploy(deploy_command(test_id, str(winner), verdict["event_time"], reason))


def p_text(p_value: float) -> str:
    """``=0.0012``; a p-value that underflowed to 0 reads ``<1e-300``, not ``=0``."""
    return "<1e-300" if p_value < 1e-300 else f"={p_value:.2g}"


def _decisive_p(verdict: Mapping[str, Any]) -> float | None:
    p_values: Mapping[str, float] = verdict.get("p_values") or {}
    return p_values.get(f"{TREATMENT}/{verdict.get('metric')}")
