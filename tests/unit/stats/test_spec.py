"""A/B test spec from an ABTestCommand record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tonebridge.avro import codec
from tonebridge.errors import InvalidEventError
from tonebridge.stats.spec import ABSpec, ArmSpec, MetricSpec, spec_from_command


def command(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": "e1",
        "event_time": datetime(2026, 3, 1, tzinfo=UTC),
        "test_id": "t-1",
        "action": "create",
        "name": None,
        "arms": [
            {"arm_id": "control", "model_id": "m-old", "weight": 3.0},
            {"arm_id": "new", "model_id": "m-new", "weight": 1.0},
        ],
        "metrics": [
            {"name": "success", "kind": "binary", "higher_is_better": True, "guardrail": False},
            {
                "name": "latency_ms",
                "kind": "continuous",
                "higher_is_better": False,
                "guardrail": True,
            },
        ],
        "alpha": 0.01,
        "min_samples": 50,
        "control_arm": None,
        "reason": None,
    }
    return record | overrides


def test_from_a_decoded_command() -> None:
    decoded = codec.decode(codec.encode("ABTestCommand", command())).record
    spec = spec_from_command(decoded)
    assert spec.test_id == "t-1"
    assert (spec.control, spec.treatments) == ("control", ("new",))
    assert spec.arms[0] == ArmSpec("control", "m-old", 3.0)
    assert spec.metrics[1] == MetricSpec("latency_ms", "continuous", False, True)
    assert (spec.alpha, spec.min_samples, spec.correction) == (0.01, 50, "holm")
    assert spec.model_of("new") == "m-new"


def test_defaults_to_the_success_metric_and_the_first_arm() -> None:
    spec = spec_from_command(command(metrics=[], control_arm="new"))
    assert spec.metrics == (MetricSpec("success", "binary"),)
    assert (spec.control, spec.treatments) == ("new", ("control",))


def test_json_round_trip() -> None:
    spec = ABSpec(
        "t",
        (ArmSpec("a", "m1"), ArmSpec("b", "m2", 2.0)),
        (MetricSpec("rating", "continuous", equivalence_margin=0.1),),
        correction="bh",
        max_samples=5000,
    )
    assert ABSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"arms": [{"arm_id": "a", "model_id": "m", "weight": 1.0}]}, "two arms"),
        ({"arms": [{"arm_id": "a", "model_id": "m", "weight": 1.0}] * 2}, "unique"),
        ({"arms": [{"arm_id": "a", "model_id": "m", "weight": 0.0},
                   {"arm_id": "b", "model_id": "m", "weight": 1.0}]}, "positive"),
        ({"control_arm": "nope"}, "control_arm"),
        ({"alpha": 1.5}, "alpha"),
        ({"min_samples": 1}, "min_samples"),
        ({"metrics": [{"name": "x", "kind": "ordinal"}]}, "binary or continuous"),
    ],
)  # fmt: skip
def test_invalid_commands_are_rejected(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidEventError, match=problem):
        spec_from_command(command(**overrides))
