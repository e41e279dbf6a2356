"""The A/B agent's input rules, on records as a producer could write them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.agents import T0, create_test, outcome
from tonebridge.decisions.abtest_input import (
    MAX_ARMS,
    check_command,
    check_item,
    check_outcome,
    outcomes_fit,
)
from tonebridge.errors import InvalidEventError
from tonebridge.topics.abtests import AB_TEST_COMMAND
from tonebridge.topics.inference import INFERENCE_OUTCOME

SKEW = timedelta(minutes=5)


def test_good_records_pass() -> None:
    check_outcome(outcome(metrics={"latency_ms": 12.0}), T0, SKEW)
    check_command(create_test(), T0, SKEW)
    check_item(INFERENCE_OUTCOME, outcome(test_id=None), T0, SKEW)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ab_test_id": "ab-1\x00"}, "ab_test_id 'ab-1\\x00' is not an id"),
        ({"request_id": "req\x00"}, "request_id contains a NUL character"),
        ({"model_id": "m" * 65}, "model_id is 65 characters long, more than 64"),
        ({"arm_id": "arm one"}, "arm_id 'arm one' is not an id"),
        ({"metrics": {"latency_ms": float("nan")}}, "metrics.latency_ms is nan"),
        ({"metrics": {"lat\x00": 1.0}}, "metrics key contains a NUL character"),
        ({"metrics": {f"m{n}": 1.0 for n in range(51)}}, "metrics has 51 entries, more than 50"),
        ({"event_time": T0 + timedelta(minutes=6)}, "event_time 2026-01-05T09:06:00+00:00 is 360"),
    ],
)
def test_a_bad_outcome_is_refused_naming_the_field(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEventError) as raised:
        check_item(INFERENCE_OUTCOME, {**outcome(), **change}, T0, SKEW)
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    "change",
    [
        {"ab_test_id": "ab-1\x00"},
        {"request_id": "req\x00"},
        {"arm_id": "arm one"},
        {"metrics": {"latency_ms": float("nan")}},
        {"metrics": {f"m{n}": 1.0 for n in range(51)}},
        {"metrics": {"lat\x00": 1.0}},
        {"metrics": {"m" * 201: 1.0}},
        {"metrics": {"latency_ms": float("inf")}},
        {"event_time": T0 + timedelta(minutes=6)},
    ],
)
def test_outcomes_fit_refuses_a_message_with_one_bad_outcome(change: dict[str, Any]) -> None:
    good = [outcome(metrics={"latency_ms": 12.0}), outcome(test_id=None)]
    assert outcomes_fit(good, T0, SKEW)
    assert not outcomes_fit([*good, {**outcome(), **change}], T0, SKEW)


def test_an_old_event_time_is_fine() -> None:
    check_outcome({**outcome(), "event_time": T0 - timedelta(days=400)}, T0, SKEW)


def arms(n: int) -> list[dict[str, Any]]:
    return [{"arm_id": f"a{i}", "model_id": f"m{i}", "weight": 1.0} for i in range(n)]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"test_id": "t" * 65}, "test_id is 65 characters long"),
        ({"name": "x\x00"}, "name contains a NUL character"),
        ({"reason": "\ud800"}, "reason contains a lone surrogate"),
        ({"arms": arms(MAX_ARMS + 1)}, "arms has 11 entries, more than 10"),
        ({"arms": [*arms(1), {**arms(2)[1], "model_id": "m\x00"}]}, "arms[1].model_id"),
        ({"arms": [*arms(1), {**arms(2)[1], "weight": float("inf")}]}, "arms[1].weight is inf"),
        ({"alpha": float("nan")}, "alpha is nan"),
        ({"metrics": [{"name": "s\x00", "kind": "binary"}]}, "metrics[0].name contains a NUL"),
        ({"event_time": T0 + timedelta(hours=1)}, "s in the future (at most 300 s allowed)"),
    ],
)  # fmt: skip
def test_a_bad_command_is_refused_naming_the_field(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEventError) as raised:
        check_item(AB_TEST_COMMAND, {**create_test(), **change}, T0, SKEW)
    assert reason in str(raised.value)


def test_the_covariate_is_a_metrics_key() -> None:
    check_command({**create_test(), "covariate": "prior_rating"}, T0, SKEW)
    with pytest.raises(InvalidEventError, match="covariate contains a NUL"):
        check_command({**create_test(), "covariate": "prior\x00"}, T0, SKEW)
