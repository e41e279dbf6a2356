"""What has happened so far in a demo run, folded from the events the demo observes (pure).

The demo follows the training, model and A/B topics and the worker's tables; every event is
applied here with the seconds since the demo started, and the display and the summary read
the result. ``Story.apply`` returns one timeline line per noteworthy event (or None).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tonebridge.decisions.promotion import (
    DEFAULT_POLICY,
    TREATMENT,
    PromotionPolicy,
    is_promotion_test,
    judge_candidate,
)
from tonebridge.stats import moments, proportion
from tonebridge.stats.abtests import ABState
from tonebridge.topics.training import POLICY_REQUESTER

Record = Mapping[str, Any]


@dataclass
class Training:
    job_id: str
    status: str = "pending"
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    message: str | None = None
    started_s: float | None = None
    ended_s: float | None = None


@dataclass
class ArmLive:
    samples: int = 0
    success_rate: float | None = None
    mean_rating: float | None = None


@dataclass
class Story:
    base_model_id: str | None = None
    labels: dict[str, str] = field(default_factory=dict)  # model id -> "base", "v2", ...
    production: str | None = None
    trigger: Record | None = None  # the policy's TrainingCommand
    training: Training | None = None
    registered: Record | None = None
    test: Record | None = None  # the promotion test's ABTestCommand
    arms: dict[str, ArmLive] = field(default_factory=dict)
    p_values: dict[str, float] = field(default_factory=dict)  # running, "arm/metric"
    verdict: Record | None = None
    deploy_command: Record | None = None
    deployed: Record | None = None  # ModelChanged of the promoted model
    watched: list[tuple[float, str]] = field(default_factory=list)  # what watch_models saw
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)  # model id -> all_time
    served: dict[str, int] = field(default_factory=dict)  # requests the app served per model
    held_out: dict[str, float] = field(default_factory=dict)  # model id -> corpus chrF
    timeline: list[tuple[float, str]] = field(default_factory=list)
    promotion: PromotionPolicy = DEFAULT_POLICY  # what the worker judges new models by
    # --rounds: the rounds already closed (as they ended), the policies' commands so far, the
    # production model each round started from (then the last promoted), and their held-out
    # chrF on the old and on the new requests.
    round: int = 1
    past: list[Story] = field(default_factory=list)
    commands: list[Record] = field(default_factory=list)
    ladder: list[str] = field(default_factory=list)
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)

    def label(self, model_id: str | None) -> str:
        if model_id is None:
            return "-"
        return self.labels.get(model_id, model_id[:8])

    @property
    def promoted(self) -> str | None:
        """The model the loop promoted, once its deployment is seen by the watcher."""
        if self.deployed is None:
            return None
        model_id = str(self.deployed["model_id"])
        seen = any(model_id in line for _, line in self.watched)
        return model_id if seen else None

    def dead_end(self) -> str | None:
        """Why the loop can no longer close in this run, if it cannot."""
        job = self.training
        if job is not None and job.status in ("failed", "stopped"):
            return f"training job {job.job_id[:8]} {job.status}: {job.message or 'no reason given'}"
        if self.registered is not None:
            judged = judge_candidate(self.promotion, self.registered["metrics"])
            if not judged.better:
                model = self.label(str(self.registered["model_id"]))
                return f"{model} is not promoted: {judged.reason}"
        verdict = self.verdict
        if verdict is not None and verdict.get("winner_arm") != TREATMENT:
            kept = "the production model did better" if verdict.get("winner_arm") else "no winner"
            return f"the A/B test ended {verdict['decision']} ({kept}): production stays"
        return None

    def next_round(self) -> None:
        """The round closed: keep it as it ended, and follow the next retraining (which may have
        been requested already, for the model just promoted)."""
        closed = copy.copy(self)
        closed.past = []
        self.past.append(closed)
        self.round += 1
        self.training = self.registered = self.test = self.verdict = None
        self.deploy_command = self.deployed = None
        self.arms, self.p_values = {}, {}
        fired = [c for c in self.commands if c["model_id"] == self.production]
        self.trigger = fired[0] if fired else None

    def note(self, at_s: float, text: str) -> str:
        self.timeline.append((at_s, text))
        return text

    def apply(self, name: str, record: Record, at_s: float) -> str | None:
        """Fold one event in; the timeline line it adds, if any."""
        handler = _HANDLERS.get(name)
        text = handler(self, record, at_s) if handler else None
        return None if text is None else self.note(at_s, text)

    def watch(self, record: Record, kind: str, at_s: float) -> str:
        """A downstream ``watch_models`` consumer saw a model event."""
        change = record.get("change") or "registered"
        self.labels.setdefault(str(record["model_id"]), f"v{record['version']}")
        line = (
            f"downstream watcher: {self.label(record['model_id'])} {change} ({record['model_id']})"
        )
        self.watched.append((at_s, line))
        return self.note(at_s, line)

    def set_base(self, model_id: str) -> None:
        self.base_model_id = self.production = model_id
        self.labels[model_id] = "base"

    def observe_test(self, state: ABState) -> None:
        """The A/B agent's current statistics of the promotion test (from its table)."""
        self.arms = {arm: _arm_live(s) for arm, s in state.arms.items()}
        self.p_values = {
            f"{arm}/{metric}": bound.p_value
            for arm, bounds in state.bounds.items()
            for metric, bound in bounds.items()
        }


def _arm_live(state: Any) -> ArmLive:
    success = state.binary.get("success")
    rating = state.continuous.get("rating")
    return ArmLive(
        state.assigned,
        proportion.result(success).rate if success is not None else None,
        moments.result(rating).mean if rating is not None else None,
    )


def _training_command(story: Story, record: Record, at_s: float) -> str | None:
    if not str(record["requested_by"]).startswith(POLICY_REQUESTER):
        return None
    story.commands.append(record)
    later_round_elsewhere = story.round > 1 and record["model_id"] != story.production
    if story.trigger is not None or later_round_elsewhere:
        return None
    story.trigger = record
    return (
        f"{record['requested_by']} fired for {story.label(record['model_id'])}: "
        f"{record['reason']} -> {record['kind']} training requested"
    )


def _training_status(story: Story, record: Record, at_s: float) -> str | None:
    job = story.training
    if job is not None and job.job_id != record["job_id"]:
        return None  # the demo follows the first job: the one its loop closes on
    if job is None:
        job = story.training = Training(str(record["job_id"]))
    before = job.status
    job.status, job.message = str(record["status"]), record.get("message")
    # a final status may carry no progress: keep the furthest seen
    job.step = max(job.step, int(record["step"]))
    job.total_steps = max(job.total_steps, int(record["total_steps"]))
    job.loss = record.get("loss") if record.get("loss") is not None else job.loss
    if job.status == "running" and job.started_s is None:
        job.started_s = at_s
    if job.status in ("completed", "failed", "stopped"):
        job.ended_s = at_s
    if job.status == before:
        return None
    return f"training job {job.job_id[:8]}: {job.status}" + (
        f" ({job.message})" if job.message else ""
    )


def _model_registered(story: Story, record: Record, at_s: float) -> str | None:
    model_id = str(record["model_id"])
    story.labels.setdefault(model_id, f"v{record['version']}")
    if story.registered is not None:
        return f"registered {record['name']} {story.label(model_id)} (a later training)"
    story.registered = record
    metrics = record.get("metrics") or {}
    chrf, base = metrics.get("chrf"), metrics.get("baseline_chrf")
    scores = f"; held-out chrF {base:.1f} -> {chrf:.1f}" if chrf is not None and base else ""
    return (
        f"registered {record['name']} {story.label(model_id)} "
        f"(trained on {record['feedback_count']} feedback events){scores}"
    )


def _model_changed(story: Story, record: Record, at_s: float) -> str | None:
    model_id = str(record["model_id"])
    if record["change"] in ("deployed", "rolled_back"):
        story.production = model_id
    if record["change"] == "deployed" and story.test and _is_treatment(story.test, model_id):
        story.deployed = record
    return f"registry: {story.label(model_id)} {record['change']} ({record.get('reason') or ''})"


def _is_treatment(test: Record, model_id: str) -> bool:
    return any(a["arm_id"] == TREATMENT and a["model_id"] == model_id for a in test["arms"])


def _ab_command(story: Story, record: Record, at_s: float) -> str | None:
    if record["action"] != "create" or not is_promotion_test(str(record["test_id"])):
        return None
    if story.test is not None:  # the demo follows the first: the one its loop closes on
        return None if story.test["test_id"] == record["test_id"] else "another A/B test started"
    story.test = record
    arms = ", ".join(
        f"{a['arm_id']}={story.label(a['model_id'])} {a['weight']:.0%}" for a in record["arms"]
    )
    return f"A/B test started: {arms}; {record['reason']}"


def _ab_verdict(story: Story, record: Record, at_s: float) -> str | None:
    if story.test is None or record["test_id"] != story.test["test_id"]:
        return None
    story.verdict = record
    winner = record.get("winner_arm")
    return (
        f"A/B verdict: {record['decision']}"
        + (f", {winner} wins" if winner else "")
        + (f" ({record['reason']})" if record.get("reason") else "")
    )


def _model_command(story: Story, record: Record, at_s: float) -> str | None:
    if record["action"] != "deploy":
        return None
    story.deploy_command = record
    return f"{record['requested_by']} asks to deploy {story.label(record['model_id'])}"


_HANDLERS: dict[str, Callable[[Story, Record, float], str | None]] = {
    "TrainingCommand": _training_command,
    "TrainingStatus": _training_status,
    "ModelRegistered": _model_registered,
    "ModelChanged": _model_changed,
    "ABTestCommand": _ab_command,
    "ABTestVerdict": _ab_verdict,
    "ModelCommand": _model_command,
}
