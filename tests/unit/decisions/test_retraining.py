from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tonebridge.avro.codec import decode
from tonebridge.decisions import retraining as policies
from tonebridge.decisions.retraining import Memory, Observation, load_policies, parse_policies
from tonebridge.errors import ConfigError
from tonebridge.job_kinds import TRAINING_KINDS
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

HOUR = 3_600_000
DOC = """
policies:
  - name: corrections
    kind: min_corrections
    threshold: 100
    cooldown: 6h
    models: ["tone-*"]
    training: {kind: dpo, base_model: t5-small, config: {epochs: 2}}
  - name: low-rating
    kind: mean_rating_below
    threshold: 3.0
    rearm_at: 3.5
    window: last_hour
    min_samples: 10
  - name: corrected-often
    kind: correction_rate_above
    threshold: 0.5
    window: last_day
  - name: lost
    kind: lost_ab_test
  - name: nightly
    kind: schedule
    every: 1d
    min_new_samples: 5
"""


def observe(**changes: object) -> Observation:
    base = Observation(
        model_id="tone-formal",
        now_ms=10 * HOUR,
        since_ms=0,
        new_samples=0,
        new_corrections=0,
        windows={
            "last_hour": (50, 4.0, 0.1),
            "last_day": (500, 4.0, 0.1),
            "all_time": (500, 4.0, 0.1),
        },
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def rules(tmp_path: Path) -> dict[str, policies.Policy]:
    path = tmp_path / "policies.yaml"
    path.write_text(DOC)
    return {p.name: p for p in load_policies(path)}


def test_the_file_parses_durations_kinds_and_training(rules: dict[str, policies.Policy]) -> None:
    corrections = rules["corrections"]
    assert isinstance(corrections, policies.MinCorrections)
    assert corrections.cooldown_ms == 6 * HOUR
    assert corrections.training.kind == "dpo"
    assert corrections.training.config == {"epochs": 2}
    schedule = rules["nightly"]
    assert isinstance(schedule, policies.Schedule)
    assert schedule.every_ms == 24 * HOUR


@pytest.mark.parametrize(
    "bad",
    [
        {"policies": [{"name": "x", "kind": "sometimes"}]},
        {"policies": [{"name": "x", "kind": "min_corrections", "threshold": 0}]},
        {"policies": [{"name": "x", "kind": "schedule", "every": "soon"}]},
        {"policies": [{"name": "x", "kind": "lost_ab_test", "surprise": 1}]},
        {
            "policies": [
                {"name": "x", "kind": "lost_ab_test"},
                {"name": "x", "kind": "lost_ab_test"},
            ]
        },
    ],
)
def test_a_bad_policy_file_is_a_config_error(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_policies(bad)


@pytest.mark.parametrize("kind", TRAINING_KINDS)
def test_a_policy_may_train_with_every_method(kind: str) -> None:
    doc = {"policies": [{"name": "x", "kind": "lost_ab_test", "training": {"kind": kind}}]}
    (policy,) = parse_policies(doc)
    assert policy.training.kind == kind


@pytest.mark.parametrize("kind", ["ppo", "stop", "evaluate"])
def test_a_policy_cannot_send_what_is_not_a_training_method(kind: str) -> None:
    doc = {"policies": [{"name": "x", "kind": "lost_ab_test", "training": {"kind": kind}}]}
    with pytest.raises(ConfigError, match="training.kind"):
        parse_policies(doc)


def test_no_file_means_no_policies() -> None:
    assert load_policies(None) == ()


def test_min_corrections_fires_at_the_threshold_with_a_window_from_its_start(
    rules: dict[str, policies.Policy],
) -> None:
    rule = rules["corrections"]
    memory, trigger = policies.evaluate(rule, observe(new_corrections=99), Memory())
    assert trigger is None
    memory, trigger = policies.evaluate(rule, observe(new_corrections=100, since_ms=7), memory)
    assert trigger is not None
    assert trigger.window == "since:7"
    assert memory.last_fired_ms == 10 * HOUR


def test_cooldown_keeps_a_policy_quiet(rules: dict[str, policies.Policy]) -> None:
    rule = rules["corrections"]
    fired = Memory(last_fired_ms=10 * HOUR - HOUR)
    assert policies.evaluate(rule, observe(new_corrections=500), fired)[1] is None
    later = observe(new_corrections=500, now_ms=10 * HOUR + 6 * HOUR)
    assert policies.evaluate(rule, later, fired)[1] is not None


def test_models_limit_a_policy(rules: dict[str, policies.Policy]) -> None:
    other = observe(model_id="summarizer", new_corrections=1000)
    assert policies.evaluate(rules["corrections"], other, Memory())[1] is None


def test_rating_policy_has_hysteresis(rules: dict[str, policies.Policy]) -> None:
    rule = rules["low-rating"]
    low = {"last_hour": (50, 2.5, 0.1)}
    memory, trigger = policies.evaluate(rule, observe(windows=low), Memory())
    assert trigger is not None and trigger.window.startswith("last_hour@")
    assert not memory.armed
    # still low, or only slightly better: no second trigger
    assert policies.evaluate(rule, observe(windows=low), memory)[1] is None
    slightly = {"last_hour": (50, 3.2, 0.1)}
    memory, trigger = policies.evaluate(rule, observe(windows=slightly), memory)
    assert trigger is None and not memory.armed
    recovered = {"last_hour": (50, 3.6, 0.1)}
    memory, trigger = policies.evaluate(rule, observe(windows=recovered), memory)
    assert trigger is None and memory.armed
    assert policies.evaluate(rule, observe(windows=low), memory)[1] is not None


def test_rate_policies_wait_for_enough_samples(rules: dict[str, policies.Policy]) -> None:
    few = {"last_hour": (9, 1.0, 0.9)}
    assert policies.evaluate(rules["low-rating"], observe(windows=few), Memory())[1] is None


def test_correction_rate_policy(rules: dict[str, policies.Policy]) -> None:
    rule = rules["corrected-often"]
    often = {"last_day": (500, 4.0, 0.6)}
    memory, trigger = policies.evaluate(rule, observe(windows=often), Memory())
    assert trigger is not None and not memory.armed
    assert policies.evaluate(rule, observe(), memory)[0].armed  # 0.1 <= 0.45 re-arms


def test_schedule_fires_once_a_boundary_passed_since_the_last_training(
    rules: dict[str, policies.Policy],
) -> None:
    rule = rules["nightly"]
    same_day = observe(since_ms=HOUR, now_ms=20 * HOUR, new_samples=50)
    assert policies.evaluate(rule, same_day, Memory())[1] is None
    next_day = observe(since_ms=HOUR, now_ms=25 * HOUR, new_samples=50)
    trigger = policies.evaluate(rule, next_day, Memory())[1]
    assert trigger is not None and trigger.window == f"every:{24 * HOUR}:1"
    quiet = observe(since_ms=HOUR, now_ms=25 * HOUR, new_samples=4)
    assert policies.evaluate(rule, quiet, Memory())[1] is None


def test_lost_tests_trigger_through_their_own_function(rules: dict[str, policies.Policy]) -> None:
    assert policies.evaluate(rules["lost"], observe(new_corrections=10**6), Memory())[1] is None
    triggers = policies.on_lost_test(list(rules.values()), "ab-7", ["tone-x", "tone-y"], "lost")
    assert [(t.policy, t.model_id, t.window) for t in triggers] == [
        ("lost", "tone-x", "ab:ab-7"),
        ("lost", "tone-y", "ab:ab-7"),
    ]


def test_command_ids_are_deterministic_and_distinct() -> None:
    one = policies.command_id("p", "m", "since:1")
    assert one == policies.command_id("p", "m", "since:1")
    assert (
        len(
            {
                one,
                policies.command_id("p", "m", "since:2"),
                policies.command_id("q", "m", "since:1"),
            }
        )
        == 3
    )


def test_the_training_command_fits_its_topic(rules: dict[str, policies.Policy]) -> None:
    rule = rules["corrections"]
    trigger = policies.Trigger("corrections", "tone-formal", "since:7", "enough")
    when = datetime(2026, 1, 5, tzinfo=UTC)
    record = policies.trigger_command(trigger, rule, when, feedback_since_ms=7)
    decoded = decode(TRAINING_COMMANDS_TOPIC.encode(record).value).record
    assert decoded["command_id"] == trigger.command_id == decoded["event_id"]
    assert decoded["kind"] == "dpo"
    assert decoded["requested_by"] == "policy:corrections"
    assert decoded["feedback_since"] == datetime(1970, 1, 1, 0, 0, 0, 7000, tzinfo=UTC)


# --- the default file and the off switch -------------------------------------------------


def test_without_a_file_the_packaged_defaults_run() -> None:
    defaults = policies.policies_in_force(None)
    assert defaults == load_policies(policies.DEFAULT_FILE)
    assert {p.kind for p in defaults} >= {"min_corrections", "mean_rating_below"}
    # production-sane: every default waits between trainings and judges rates on many events
    assert all(p.cooldown_ms >= 24 * HOUR for p in defaults)
    rates = [
        p
        for p in defaults
        if isinstance(p, policies.MeanRatingBelow | policies.CorrectionRateAbove)
    ]
    assert rates and all(p.min_samples >= 100 for p in rates)


def test_a_configured_file_replaces_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(DOC)
    assert [p.name for p in policies.policies_in_force(path)] == [
        "corrections", "low-rating", "corrected-often", "lost", "nightly",
    ]  # fmt: skip


def test_retraining_off_runs_no_policy_whatever_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(DOC)
    assert policies.policies_in_force(None, enabled=False) == ()
    assert policies.policies_in_force(path, enabled=False) == ()


def test_the_default_file_is_package_data() -> None:
    """Installed with the package: its name matches pyproject's package-data patterns."""
    root = Path(__file__).parents[3]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["*"]
    assert policies.DEFAULT_FILE.resolve().parent == (root / "tonebridge" / "decisions").resolve()
    assert any(fnmatch.fnmatch(policies.DEFAULT_FILE.name, p) for p in patterns)
