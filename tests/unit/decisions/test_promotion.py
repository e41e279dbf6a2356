"""Promotion decisions: which registered models go to an A/B test, which verdicts deploy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tonebridge import rules
from tonebridge.avro.codec import decode, encode
from tonebridge.decisions.promotion import (
    CONTROL,
    DEFAULT_POLICY,
    TREATMENT,
    Deploy,
    PromotionPolicy,
    Skip,
    StartTest,
    is_promotion_test,
    judge_candidate,
    load_promotion,
    on_registered,
    on_verdict,
    parse_promotion,
    promotion_test_id,
)
from tonebridge.errors import ConfigError
from tonebridge.stats.spec import spec_from_command

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
BETTER = {"chrf": 41.5, "baseline_chrf": 3.2, "vs_baseline_verdict": 1.0}


def registered(model_id: str = "m-new", **metrics: float) -> dict[str, Any]:
    return {
        "event_id": f"reg-{model_id}",
        "model_id": model_id,
        "name": "tone_adjustment-tiny",
        "version": "2",
        "event_time": WHEN,
        "metrics": metrics or dict(BETTER),
    }


def verdict(**fields: Any) -> dict[str, Any]:
    return {
        "test_id": promotion_test_id("m-new", "reg-m-new"),
        "event_time": WHEN,
        "decision": "winner",
        "winner_arm": TREATMENT,
        "winner_model_id": "m-new",
        "metric": "rating",
        "effect": 2.1,
        "p_values": {f"{TREATMENT}/rating": 0.001, f"{TREATMENT}/success": 0.01},
        **fields,
    }


# --- judging a candidate -----------------------------------------------------------------


def test_a_significantly_better_candidate_is_better() -> None:
    judgement = judge_candidate(DEFAULT_POLICY, BETTER)
    assert judgement.better
    assert judgement.improvement == pytest.approx(38.3)


@pytest.mark.parametrize(
    ("metrics", "why"),
    [
        ({"chrf": 40.0}, "no chrf"),
        ({"chrf": 3.0, "baseline_chrf": 3.2, "vs_baseline_verdict": 1.0}, "not better"),
        ({"chrf": 3.2, "baseline_chrf": 3.2, "vs_baseline_verdict": 1.0}, "not better"),
        ({"chrf": 40.0, "baseline_chrf": 3.2, "vs_baseline_verdict": 0.0}, "bootstrap"),
        ({"chrf": 40.0, "baseline_chrf": 3.2}, "bootstrap"),
    ],
)
def test_a_candidate_that_is_not_clearly_better_is_not(metrics: dict[str, float], why: str) -> None:
    judgement = judge_candidate(DEFAULT_POLICY, metrics)
    assert not judgement.better
    assert why in judgement.reason


def test_without_significance_the_margin_alone_decides() -> None:
    policy = PromotionPolicy(require_significant=False, min_improvement=5.0)
    assert judge_candidate(policy, {"chrf": 9.0, "baseline_chrf": 3.0}).better
    assert not judge_candidate(policy, {"chrf": 8.0, "baseline_chrf": 3.0}).better


def test_the_compared_metric_is_configurable() -> None:
    policy = PromotionPolicy(metric="bleu", require_significant=False)
    assert judge_candidate(policy, {"bleu": 20.0, "baseline_bleu": 1.0}).better
    assert not judge_candidate(policy, BETTER).better


# --- on ModelRegistered ------------------------------------------------------------------


def test_a_better_model_starts_an_ab_test_against_production() -> None:
    policy = PromotionPolicy(treatment_share=0.3, alpha=0.01, min_samples=40)
    step = on_registered(policy, registered(), "m-prod")
    assert isinstance(step, StartTest)
    command = step.command
    assert command["test_id"] == promotion_test_id("m-new", "reg-m-new")
    assert command["arms"] == [
        {"arm_id": CONTROL, "model_id": "m-prod", "weight": pytest.approx(0.7)},
        {"arm_id": TREATMENT, "model_id": "m-new", "weight": 0.3},
    ]
    assert [(m["name"], m["kind"]) for m in command["metrics"]] == [
        ("success", "binary"),
        ("rating", "continuous"),
    ]
    assert command["event_time"] == WHEN
    spec = spec_from_command(command)
    assert (spec.control, spec.treatments) == (CONTROL, (TREATMENT,))
    assert (spec.alpha, spec.min_samples) == (0.01, 40)


def test_a_promotion_test_has_time_limits_by_default() -> None:
    step = on_registered(DEFAULT_POLICY, registered(), "m-prod")
    assert isinstance(step, StartTest)
    spec = spec_from_command(decode(encode("ABTestCommand", step.command)).record)
    assert (spec.max_duration_seconds, spec.idle_timeout_seconds) == (14 * 86_400, 86_400)
    assert spec.max_samples is None


def test_the_limits_are_set_in_the_policy_with_durations_or_seconds() -> None:
    section = {"max_duration_seconds": "3d", "idle_timeout_seconds": 600, "max_samples": 5000}
    policy = parse_promotion({"promotion": section})
    step = on_registered(policy, registered(), "m-prod")
    assert isinstance(step, StartTest)
    spec = spec_from_command(step.command)
    assert (spec.max_duration_seconds, spec.idle_timeout_seconds) == (3 * 86_400, 600)
    assert spec.max_samples == 5000
    unlimited = parse_promotion({"promotion": {"idle_timeout_seconds": None}})
    assert unlimited.idle_timeout_seconds is None


def test_the_test_command_is_a_valid_avro_record_with_a_deterministic_id() -> None:
    first = on_registered(DEFAULT_POLICY, registered(), "m-prod")
    again = on_registered(DEFAULT_POLICY, registered(), "m-prod")
    assert isinstance(first, StartTest) and isinstance(again, StartTest)
    assert first.command["event_id"] == again.command["event_id"]
    decoded = decode(encode("ABTestCommand", first.command), "ABTestCommand")
    assert decoded.record["arms"][1]["model_id"] == "m-new"


def test_a_model_no_better_than_its_parent_starts_nothing() -> None:
    step = on_registered(DEFAULT_POLICY, registered(chrf=3.0, baseline_chrf=3.2), "m-prod")
    assert isinstance(step, Skip)
    assert "not better" in step.reason


def test_the_production_model_itself_is_not_tested() -> None:
    assert isinstance(on_registered(DEFAULT_POLICY, registered("m-prod"), "m-prod"), Skip)


def test_one_promotion_test_at_a_time_per_model_name() -> None:
    running = promotion_test_id("m-other", "reg-m-other")
    step = on_registered(DEFAULT_POLICY, registered(), "m-prod", running)
    assert isinstance(step, StartTest) and step.stop is not None  # a better newcomer supersedes
    assert (step.stop["test_id"], step.stop["action"]) == (running, "stop")
    assert decode(encode("ABTestCommand", step.stop), "ABTestCommand").record["reason"]
    # a newcomer no better than its parent leaves the running test alone
    worse = on_registered(
        DEFAULT_POLICY, registered(chrf=3.0, baseline_chrf=3.2), "m-prod", running
    )
    assert isinstance(worse, Skip) and "not better" in worse.reason
    waiting = PromotionPolicy(supersede=False)
    step = on_registered(waiting, registered(), "m-prod", running)
    assert isinstance(step, Skip)
    assert step.reason == f"promotion test {running} is still running for tone_adjustment-tiny"
    # a replay of the event that started the running test starts it again (same command)
    again = on_registered(
        DEFAULT_POLICY, registered(), "m-prod", promotion_test_id("m-new", "reg-m-new")
    )
    assert isinstance(again, StartTest)


def test_disabled_promotion_starts_nothing() -> None:
    step = on_registered(PromotionPolicy(enabled=False), registered(), "m-prod")
    assert isinstance(step, Skip)


def test_without_a_production_model_a_better_model_is_deployed_at_once() -> None:
    step = on_registered(DEFAULT_POLICY, registered(), None)
    assert isinstance(step, Deploy)
    assert (step.command["action"], step.command["model_id"]) == ("deploy", "m-new")
    encode("ModelCommand", step.command)


# --- on ABTestVerdict --------------------------------------------------------------------


def test_a_won_promotion_test_deploys_the_newcomer() -> None:
    step = on_verdict(verdict())
    assert isinstance(step, Deploy)
    command = step.command
    assert (command["action"], command["model_id"]) == ("deploy", "m-new")
    assert command["requested_by"] == f"promotion:{promotion_test_id('m-new', 'reg-m-new')}"
    assert "effect +2.100" in command["reason"] and "p=0.001" in command["reason"]
    assert command == on_verdict(verdict()).command  # replay: the same command id
    decode(encode("ModelCommand", command), "ModelCommand")


@pytest.mark.parametrize(
    "fields",
    [
        {"winner_arm": CONTROL, "winner_model_id": "m-prod"},
        {"decision": "no_difference", "winner_arm": None, "winner_model_id": None},
        {"decision": "guardrail_violation", "winner_arm": CONTROL, "winner_model_id": "m-prod"},
        {"decision": "sample_ratio_mismatch", "winner_arm": None, "winner_model_id": None},
        {"decision": "stopped", "winner_arm": None, "winner_model_id": None},
        {"decision": "expired", "winner_arm": None, "winner_model_id": None},
        {"decision": "no_traffic", "winner_arm": None, "winner_model_id": None},
    ],
)
def test_any_other_verdict_keeps_production(fields: dict[str, Any]) -> None:
    step = on_verdict(verdict(**fields))
    assert isinstance(step, Skip)
    assert "production stays" in step.reason


def test_a_p_value_that_underflowed_is_not_shown_as_zero() -> None:
    step = on_verdict(verdict(p_values={f"{TREATMENT}/rating": 0.0}))
    assert isinstance(step, Deploy)
    assert step.command["reason"].endswith("p<1e-300")


def test_tests_started_by_hand_are_never_deployed_automatically() -> None:
    step = on_verdict(verdict(test_id="checkout-copy-test"))
    assert isinstance(step, Skip)
    assert "not a promotion test" in step.reason


# --- the policy file ---------------------------------------------------------------------


def test_the_promotion_section_is_read_with_defaults_for_what_it_leaves_out() -> None:
    policy = parse_promotion(
        {"policies": [], "promotion": {"min_samples": 30, "treatment_share": 0.25}}
    )
    assert (policy.min_samples, policy.treatment_share, policy.alpha) == (30, 0.25, 0.05)
    assert parse_promotion({"policies": []}) == DEFAULT_POLICY
    assert parse_promotion(None) == DEFAULT_POLICY


@pytest.mark.parametrize(
    "section",
    [
        {"treatment_share": 1.0},
        {"min_samples": 1},
        {"alpha": 0},
        {"unknown": 1},
        {"metrics": []},
        {"metrics": [{"name": "rating", "kind": "continuous"}] * 2},
        {"metrics": [{"name": "rating", "kind": "ordinal"}]},
        {"idle_timeout_seconds": 0},
        {"max_duration_seconds": "soon"},
        {"min_samples": 50, "max_samples": 49},
    ],
)
def test_a_bad_promotion_section_is_a_config_error(section: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="invalid promotion policy"):
        parse_promotion({"promotion": section})


def test_the_demo_policy_files_hold_valid_promotion_sections() -> None:
    from tonebridge.demo.options import POLICY_FILE, QUICK_POLICY_FILE, packaged_policy

    full = load_promotion(packaged_policy(POLICY_FILE))
    quick = load_promotion(packaged_policy(QUICK_POLICY_FILE))
    assert quick.min_samples < full.min_samples
    assert load_promotion(None) == DEFAULT_POLICY


def test_an_unreadable_policy_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_promotion(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("promotion: [unclosed")
    with pytest.raises(ConfigError, match="cannot read"):
        load_promotion(tmp_path / "bad.yaml")


def test_a_promotion_test_id_cannot_be_guessed_from_the_model_id() -> None:
    test_id = promotion_test_id("m-new", "0b6f3c1e-4f7a-4d7e-9a57-3d2c1b0a9f8e")
    assert is_promotion_test(test_id) and "m-new" not in test_id
    assert test_id == promotion_test_id("m-new", "0b6f3c1e-4f7a-4d7e-9a57-3d2c1b0a9f8e")
    assert test_id != promotion_test_id("m-new", "another-registration")
    assert len(test_id) <= 64
    rules.check_text(test_id, "test_id", rules.ID)


def test_a_planned_size_and_a_covariate_reach_the_test() -> None:
    policy = PromotionPolicy(expected_samples=5000, covariate="prior_rating")
    step = on_registered(policy, registered(), "m-prod")
    assert isinstance(step, StartTest)
    decoded = decode(encode("ABTestCommand", step.command), "ABTestCommand").record
    spec = spec_from_command(decoded)
    assert (spec.expected_samples, spec.horizon, spec.covariate) == (5000, 5000, "prior_rating")
    default = on_registered(DEFAULT_POLICY, registered(), "m-prod")
    assert isinstance(default, StartTest)
    assert spec_from_command(default.command).horizon is None
