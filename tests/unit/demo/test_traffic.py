"""Routing: production until a test's models are ready, then split by the arms' weights."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tonebridge.demo.traffic import (
    Arm,
    Assignment,
    Routing,
    on_deployed,
    on_ready,
    on_test_command,
    on_test_ended,
    pick_arm,
    route,
)


def create(test_id: str = "t1", share: float = 0.25) -> dict[str, Any]:
    return {
        "test_id": test_id,
        "action": "create",
        "arms": [
            {"arm_id": "control", "model_id": "prod", "weight": 1 - share},
            {"arm_id": "treatment", "model_id": "new", "weight": share},
        ],
    }


def ready(routing: Routing, *models: str) -> Routing:
    for model in models:
        routing = on_ready(routing, model)
    return routing


def test_nothing_is_served_before_production_is_loaded() -> None:
    routing = on_deployed(Routing(), "prod")
    assert route(routing, 0.5) is None
    assert route(ready(routing, "prod"), 0.5) == Assignment("prod")


def test_a_test_gets_traffic_only_once_every_arm_is_ready() -> None:
    routing = on_test_command(ready(on_deployed(Routing(), "prod"), "prod"), create())
    assert routing.wanted == {"prod", "new"}
    assert route(routing, 0.9) == Assignment("prod")
    routing = on_ready(routing, "new")
    assert route(routing, 0.9) == Assignment("new", "t1", "treatment")
    assert route(routing, 0.1) == Assignment("prod", "t1", "control")


def test_traffic_follows_the_weights() -> None:
    arms = (Arm("a", "m1", 3.0), Arm("b", "m2", 1.0))
    counts = Counter(pick_arm(arms, i / 1000).arm_id for i in range(1000))
    assert counts == {"a": 750, "b": 250}
    assert pick_arm(arms, 0.999999).arm_id == "b"


def test_a_verdict_ends_the_test_for_good() -> None:
    routing = ready(on_test_command(on_deployed(Routing(), "prod"), create()), "prod", "new")
    routing = on_test_ended(routing, "t1")
    assert route(routing, 0.9) == Assignment("prod")
    assert on_test_command(routing, create()).test is None  # a replayed create


def test_one_test_at_a_time_and_stop_ends_it() -> None:
    routing = on_test_command(Routing(), create("t1"))
    assert on_test_command(routing, create("t2")).test == routing.test
    stopped = on_test_command(routing, {"test_id": "t1", "action": "stop", "arms": []})
    assert stopped.test is None and "t1" in stopped.ended


@pytest.mark.parametrize("model", ["new", "prod"])
def test_deploying_changes_what_serves_outside_tests(model: str) -> None:
    routing = ready(on_deployed(Routing(), "prod"), "prod", "new")
    assert route(on_deployed(routing, model), 0.3) == Assignment(model)


def test_after_a_shift_nothing_serves_until_loaded_again() -> None:
    from tonebridge.demo import traffic

    routing = traffic.on_ready(traffic.on_deployed(traffic.Routing(), "m"), "m")
    assert traffic.route(routing, 0.3) == traffic.Assignment("m")
    shifted = traffic.on_unready(routing)
    assert traffic.route(shifted, 0.3) is None
    assert shifted.wanted == frozenset({"m"})  # still wanted: the app loads it again
