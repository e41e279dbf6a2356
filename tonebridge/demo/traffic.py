"""Which model serves a request: production, or an arm of the running A/B test (pure).

The simulated app learns production from ModelChanged events (as a downstream inference
service would, through ``watch_models``) and A/B tests from the ABTestCommand and
ABTestVerdict topics. It routes to a test only once every arm's model is loaded (``ready``),
as an app would not split traffic onto a model it cannot serve; until then, and after the
verdict, production serves every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Arm:
    arm_id: str
    model_id: str
    weight: float


@dataclass(frozen=True, slots=True)
class Test:
    test_id: str
    arms: tuple[Arm, ...]

    @property
    def model_ids(self) -> frozenset[str]:
        return frozenset(arm.model_id for arm in self.arms)


@dataclass(frozen=True, slots=True)
class Assignment:
    model_id: str
    test_id: str | None = None
    arm_id: str | None = None


@dataclass(frozen=True, slots=True)
class Routing:
    production: str | None = None
    test: Test | None = None
    ended: frozenset[str] = frozenset()  # tests with a verdict: never routed to again
    ready: frozenset[str] = field(default_factory=frozenset)  # models the app can serve

    @property
    def wanted(self) -> frozenset[str]:
        """Models the app should load: production and the running test's arms."""
        models = set(self.test.model_ids if self.test else ())
        if self.production is not None:
            models.add(self.production)
        return frozenset(models)


def parse_test(command: Mapping[str, Any]) -> Test:
    arms = tuple(
        Arm(str(a["arm_id"]), str(a["model_id"]), float(a["weight"])) for a in command["arms"]
    )
    return Test(str(command["test_id"]), arms)


def on_test_command(routing: Routing, command: Mapping[str, Any]) -> Routing:
    """A create starts routing to a new test (one at a time); a stop ends it."""
    test_id = str(command["test_id"])
    if command["action"] == "stop" or test_id in routing.ended:
        return on_test_ended(routing, test_id)
    if routing.test is not None:
        return routing
    return replace(routing, test=parse_test(command))


def on_test_ended(routing: Routing, test_id: str) -> Routing:
    test = None if routing.test and routing.test.test_id == test_id else routing.test
    return replace(routing, test=test, ended=routing.ended | {test_id})


def on_deployed(routing: Routing, model_id: str) -> Routing:
    return replace(routing, production=model_id)


def on_ready(routing: Routing, model_id: str) -> Routing:
    return replace(routing, ready=routing.ready | {model_id})


def on_unready(routing: Routing) -> Routing:
    """No model can serve until it is loaded again (the requests changed)."""
    return replace(routing, ready=frozenset())


def route(routing: Routing, draw: float) -> Assignment | None:
    """The assignment of one request, from a uniform ``draw`` in [0, 1); None: nothing ready."""
    test = routing.test
    if test is not None and test.model_ids <= routing.ready:
        arm = pick_arm(test.arms, draw)
        return Assignment(arm.model_id, test.test_id, arm.arm_id)
    if routing.production is not None and routing.production in routing.ready:
        return Assignment(routing.production)
    return None


def pick_arm(arms: tuple[Arm, ...], draw: float) -> Arm:
    """The arm whose share of the normalised weights covers ``draw``."""
    total = sum(arm.weight for arm in arms)
    edge = 0.0
    for arm in arms:
        edge += arm.weight / total
        if draw < edge:
            return arm
    return arms[-1]
