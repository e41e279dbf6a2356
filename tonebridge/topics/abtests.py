"""A/B tests: commands in, verdicts out, both keyed by ``test_id``.

Commands are co-partitioned with ``tonebridge.inference.outcomes.v1`` (outcomes of a test are
keyed by ``ab_test_id``): both keep the default partition count, so a test's definition and its
outcomes meet on the same partition number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tonebridge.avro.codec import Record
from tonebridge.topics.spec import TopicSpec, event_header, field

AB_TEST_COMMAND = "ABTestCommand"
AB_TEST_VERDICT = "ABTestVerdict"

ABTEST_COMMANDS_TOPIC = TopicSpec(
    "tonebridge.abtest.commands.v1", (AB_TEST_COMMAND,), field("test_id")
)
ABTEST_VERDICTS_TOPIC = TopicSpec(
    "tonebridge.abtest.verdicts.v1", (AB_TEST_VERDICT,), field("test_id")
)


def abtest_command(
    *,
    test_id: str,
    action: str,
    name: str | None = None,
    arms: Sequence[Mapping[str, Any]] = (),
    metrics: Sequence[Mapping[str, Any]] = (),
    alpha: float = 0.05,
    min_samples: int = 100,
    control_arm: str | None = None,
    reason: str | None = None,
    max_samples: int | None = None,
    max_duration_seconds: int | None = None,
    idle_timeout_seconds: int | None = None,
    expected_samples: int | None = None,
    covariate: str | None = None,
    event_id: str | None = None,
    event_time: datetime | None = None,
) -> Record:
    """An ABTestCommand: ``create`` with its arms and metrics, or ``stop``. The limits
    (``max_samples``, ``max_duration_seconds``, ``idle_timeout_seconds``) end a test."""
    return {
        **event_header(event_id, event_time),
        "test_id": test_id,
        "action": action,
        "name": name,
        "arms": [dict(arm) for arm in arms],
        "metrics": [dict(metric) for metric in metrics],
        "alpha": alpha,
        "min_samples": min_samples,
        "control_arm": control_arm,
        "reason": reason,
        "max_samples": max_samples,
        "max_duration_seconds": max_duration_seconds,
        "idle_timeout_seconds": idle_timeout_seconds,
        "expected_samples": expected_samples,
        "covariate": covariate,
    }


def abtest_verdict(
    *,
    test_id: str,
    decision: str,
    winner_arm: str | None = None,
    winner_model_id: str | None = None,
    metric: str | None = None,
    effect: float | None = None,
    ci_low: float | None = None,
    ci_high: float | None = None,
    p_values: Mapping[str, float] | None = None,
    samples: Mapping[str, int] | None = None,
    results_json: str = "{}",
    reason: str | None = None,
    event_id: str | None = None,
    event_time: datetime | None = None,
) -> Record:
    """An ABTestVerdict: ``decision`` is winner, no_difference, guardrail_violation,
    sample_ratio_mismatch, stopped, or (v2) expired or no_traffic when a time limit ended
    the test; ``results_json`` holds every statistic."""
    return {
        **event_header(event_id, event_time),
        "test_id": test_id,
        "decision": decision,
        "winner_arm": winner_arm,
        "winner_model_id": winner_model_id,
        "metric": metric,
        "effect": effect,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_values": dict(p_values or {}),
        "samples": dict(samples or {}),
        "results_json": results_json,
        "reason": reason,
    }
