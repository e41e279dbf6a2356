"""The router's table: arms by hash at their weights, the same in every process, and what a
name or a test routes to as tests start and end and production changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tonebridge.client.routing import RoutingTable
from tonebridge.errors import RouteError
from tonebridge.stats.srm import srm_test
from tonebridge.topics.abtests import (
    AB_TEST_COMMAND,
    AB_TEST_VERDICT,
    abtest_command,
    abtest_verdict,
)
from tonebridge.topics.models import (
    MODEL_CHANGED,
    MODEL_REGISTERED,
    model_changed,
    model_registered,
)

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)
UNITS = [f"user-{n}" for n in range(100_000)]
SRM_ALPHA = 0.001


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def create(test_id: str, weights: dict[str, float], minute: int = 0, **extra: Any) -> Any:
    arms = [{"arm_id": a, "model_id": f"m-{a}", "weight": w} for a, w in weights.items()]
    return abtest_command(
        test_id=test_id, action="create", arms=arms, event_time=at(minute), **extra
    )


def table_with(*records: tuple[str, Any]) -> RoutingTable:
    table = RoutingTable()
    for kind, record in records:
        table.apply(kind, record)
    return table


def deployed(model_id: str, minute: int, name: str = "tone", **extra: Any) -> tuple[str, Any]:
    record = model_changed(
        model_id=model_id,
        name=name,
        version="1",
        change="deployed",
        artifact_uri="a",
        event_time=at(minute),
        **extra,
    )
    return MODEL_CHANGED, record


def registered(model_id: str, name: str = "tone") -> tuple[str, Any]:
    record = model_registered(
        model_id=model_id,
        name=name,
        version="1",
        base_model="b",
        model_type="lora",
        job_id="j",
        artifact_uri="a",
    )
    return MODEL_REGISTERED, record


def verdict(test_id: str, minute: int, **extra: Any) -> tuple[str, Any]:
    return AB_TEST_VERDICT, abtest_verdict(test_id=test_id, event_time=at(minute), **extra)


def arm_counts(table: RoutingTable, test_id: str, arm_ids: list[str]) -> list[int]:
    counted = Counter(table.route(u, test_id=test_id).arm_id for u in UNITS)
    return [counted[a] for a in arm_ids]


# --- assignment --------------------------------------------------------------------------

SPLITS = [
    {"control": 50.0, "treatment": 50.0},
    {"control": 0.8, "treatment": 0.2},
    {"a": 5.0, "b": 3.0, "c": 2.0},
]


@pytest.mark.parametrize("weights", SPLITS, ids=["50/50", "80/20", "50/30/20"])
def test_100000_units_pass_the_sample_ratio_test_at_every_split(weights: dict[str, float]) -> None:
    table = table_with((AB_TEST_COMMAND, create("t-srm", weights)))
    counts = arm_counts(table, "t-srm", list(weights))
    result = srm_test(counts, list(weights.values()))
    assert result.p_value > SRM_ALPHA, counts
    assert result.chi2_p_value is not None and result.chi2_p_value > SRM_ALPHA, counts


def test_the_sample_ratio_test_would_catch_a_wrong_split() -> None:
    """The check above can fail: 50/50 assignments measured against 80/20 do."""
    table = table_with((AB_TEST_COMMAND, create("t-srm", SPLITS[0])))
    counts = arm_counts(table, "t-srm", list(SPLITS[0]))
    assert srm_test(counts, [0.8, 0.2]).p_value < SRM_ALPHA


def test_assignment_is_deterministic_and_tests_are_independent() -> None:
    weights = {"control": 1.0, "treatment": 1.0}
    first = table_with((AB_TEST_COMMAND, create("t-1", weights)))
    again = table_with(
        (AB_TEST_COMMAND, create("t-1", weights)), (AB_TEST_COMMAND, create("t-2", weights))
    )
    units = UNITS[:2_000]
    arms_1 = [first.route(u, test_id="t-1") for u in units]
    assert [again.route(u, test_id="t-1") for u in units] == arms_1
    arms_2 = [again.route(u, test_id="t-2").arm_id for u in units]
    same = sum(a.arm_id == b for a, b in zip(arms_1, arms_2, strict=True))
    assert 850 < same < 1_150  # another test splits the units afresh (about half agree)


ANOTHER_PROCESS = """
import json, sys
from tonebridge.client.routing import RoutingTable
from tonebridge.topics.abtests import abtest_command
arms = [{"arm_id": a, "model_id": a, "weight": w} for a, w in json.loads(sys.argv[1]).items()]
table = RoutingTable()
table.apply("ABTestCommand", abtest_command(test_id="t-x", action="create", arms=arms))
units = json.loads(sys.stdin.read())
print(json.dumps([table.route(u, test_id="t-x").arm_id for u in units]))
"""


def test_a_unit_gets_the_same_arm_in_another_process() -> None:
    weights = SPLITS[2]
    units = UNITS[:2_000]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # Python's own str hash differs per process
    out = subprocess.run(
        [sys.executable, "-c", ANOTHER_PROCESS, json.dumps(weights)],
        input=json.dumps(units),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    table = table_with((AB_TEST_COMMAND, create("t-x", weights)))
    here = [table.route(u, test_id="t-x").arm_id for u in units]
    assert json.loads(out) == here
    assert set(here) == set(weights)


def test_a_zero_weight_arm_gets_no_units() -> None:
    table = table_with((AB_TEST_COMMAND, create("t-z", {"a": 1.0, "off": 0.0, "b": 1.0})))
    assert arm_counts(table, "t-z", ["a", "off", "b"])[1] == 0


# --- what a name or a test routes to ------------------------------------------------------


def test_a_name_with_no_test_routes_to_its_production_model() -> None:
    table = table_with(deployed("m-1", 0), deployed("m-2", 5))
    route = table.route("u", model_name="tone")
    assert (route.model_id, route.test_id, route.arm_id) == ("m-2", None, None)


def test_rollbacks_and_other_aliases() -> None:
    rolled = model_changed(
        model_id="m-1", name="tone", version="1", change="rolled_back", artifact_uri="a"
    )
    table = table_with(deployed("m-1", 0), deployed("m-2", 1), (MODEL_CHANGED, rolled))
    table.apply(*deployed("m-9", 2, alias="staging"))
    assert table.route("u", model_name="tone").model_id == "m-1"


def test_a_running_test_of_the_name_assigns_arms() -> None:
    table = table_with(
        deployed("m-control", 0),
        registered("m-treatment"),
        (AB_TEST_COMMAND, create("t-1", {"control": 1, "treatment": 1}, 1)),
    )
    routes = {table.route(u, model_name="tone") for u in UNITS[:100]}
    assert {(r.test_id, r.arm_id, r.model_id) for r in routes} == {
        ("t-1", "control", "m-control"),
        ("t-1", "treatment", "m-treatment"),
    }
    with pytest.raises(RouteError):
        table.route("u", model_name="other-name")


def test_a_decided_test_routes_to_its_winner_until_production_changes() -> None:
    table = table_with(
        deployed("m-control", 0),
        (AB_TEST_COMMAND, create("t-1", {"control": 1, "treatment": 1}, 1)),
        verdict("t-1", 2, decision="winner", winner_arm="treatment"),
    )
    assert table.route("u", model_name="tone").model_id == "m-treatment"
    assert table.route("u", test_id="t-1") == table.route("v", test_id="t-1")
    assert table.route("u", test_id="t-1").test_id is None
    table.apply(*deployed("m-3", 3))
    assert table.route("u", model_name="tone").model_id == "m-3"
    assert table.route("u", test_id="t-1").model_id == "m-treatment"


def test_a_test_without_a_winner_falls_back_to_production_or_control() -> None:
    command = create("t-1", {"control": 1, "treatment": 1}, 1, control_arm="control")
    stop = abtest_command(test_id="t-1", action="stop", event_time=at(2))
    table = table_with((AB_TEST_COMMAND, command), (AB_TEST_COMMAND, stop), registered("m-control"))
    assert table.route("u", test_id="t-1").model_id == "m-control"
    assert table.route("u", model_name="tone").model_id == "m-control"  # no production seen
    table.apply(*deployed("m-prod", 0))
    assert table.route("u", model_name="tone").model_id == "m-prod"
    table.apply(*verdict("t-1", 3, decision="no_difference"))
    assert table.route("u", model_name="tone").model_id == "m-prod"


def test_a_verdict_read_before_its_test_still_ends_it() -> None:
    """The verdict and command topics are read side by side: arrival order may differ."""
    table = table_with(
        verdict("t-1", 2, decision="winner", winner_model_id="m-treatment"),
        (AB_TEST_COMMAND, create("t-1", {"control": 1, "treatment": 1}, 1)),
    )
    assert table.route("u", test_id="t-1").model_id == "m-treatment"


def test_the_newest_running_test_of_a_name_routes() -> None:
    table = table_with(
        deployed("m-control", 0),
        (AB_TEST_COMMAND, create("t-new", {"control": 1, "treatment": 1}, 5)),
        (AB_TEST_COMMAND, create("t-old", {"control": 1, "older": 1}, 1)),
    )
    assert {table.route(u, model_name="tone").test_id for u in UNITS[:50]} == {"t-new"}


def test_unknown_tests_and_bad_calls_are_refused() -> None:
    table = table_with((AB_TEST_COMMAND, create("t-bad", {"a": 0.0})))
    with pytest.raises(RouteError, match="t-bad"):
        table.route("u", test_id="t-bad")  # no weight anywhere: not a test one can route to
    with pytest.raises(ValueError, match="exactly one"):
        table.route("u", model_name="tone", test_id="t-1")
