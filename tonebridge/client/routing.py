"""Which model serves a unit: the state of :class:`~tonebridge.client.router.ExperimentRouter`
(pure: no I/O, no clock).

A unit (a user or session id) goes to an arm of a running A/B test by a hash: blake2b of the
test id and the unit id, read as a number in [0, 1) and placed among the arms' cumulative
normalised weights (in the command's arm order). The same unit gets the same arm in every
process and after every restart, and the arms get their shares of the units.

:class:`RoutingTable` learns from four record types, in any order across topics:

- ABTestCommand ``create`` defines a test, ``stop`` ends it;
- ABTestVerdict ends it with its result (``winner_model_id``, or the model of ``winner_arm``);
- ModelRegistered and ModelChanged say which registered name a model id belongs to, and a
  ModelChanged ``deployed`` or ``rolled_back`` to the alias (``production``) says which
  model id serves that name.

A test belongs to a model name when one of its arms serves a model of that name. Routing by
name: the newest running test of the name assigns an arm; with none, the newest ended test's
winner serves if it ended after the name's last production change (the deployment of the
winner has not arrived yet); otherwise the production model, or the ended test's control.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tonebridge.errors import RouteError
from tonebridge.topics.abtests import AB_TEST_COMMAND, AB_TEST_VERDICT
from tonebridge.topics.models import MODEL_CHANGED, MODEL_REGISTERED

HASH_BYTES = 8
FRACTION_BITS = 53  # a double's precision: every fraction is exact and below 1
SERVING_CHANGES = ("deployed", "rolled_back")


def unit_point(test_id: str, unit_id: str) -> float:
    """The unit's place in [0, 1) for this test: the same everywhere, independent per test."""
    digest = hashlib.blake2b(f"{test_id}\x00{unit_id}".encode(), digest_size=HASH_BYTES)
    top = int.from_bytes(digest.digest(), "big") >> (8 * HASH_BYTES - FRACTION_BITS)
    return top / (1 << FRACTION_BITS)


def cumulative(weights: list[float]) -> tuple[float, ...]:
    """Upper bounds of each arm's share of [0, 1); the last is exactly 1."""
    total = math.fsum(weights)
    bounds = [math.fsum(weights[: i + 1]) / total for i in range(len(weights) - 1)]
    return (*bounds, 1.0)


@dataclass(frozen=True, slots=True)
class Route:
    """The model to serve; ``test_id`` and ``arm_id`` are set while a test assigns it."""

    model_id: str
    test_id: str | None = None
    arm_id: str | None = None


@dataclass(frozen=True, slots=True)
class Experiment:
    """A created A/B test: its arms (arm id -> model id), bounds and control arm."""

    test_id: str
    arm_ids: tuple[str, ...]
    model_ids: tuple[str, ...]
    bounds: tuple[float, ...]
    control_arm: str
    created: datetime

    @classmethod
    def from_command(cls, record: Mapping[str, Any]) -> Experiment | None:
        """The test a ``create`` defines, or None when its arms cannot be routed to."""
        arms = record["arms"]
        weights = [float(arm["weight"]) for arm in arms]
        if not arms or any(not w >= 0.0 for w in weights) or not math.fsum(weights) > 0.0:
            return None
        arm_ids = tuple(str(arm["arm_id"]) for arm in arms)
        control = record["control_arm"] or arm_ids[0]
        models = tuple(str(arm["model_id"]) for arm in arms)
        return cls(
            str(record["test_id"]),
            arm_ids,
            models,
            cumulative(weights),
            control,
            record["event_time"],
        )

    def assign(self, unit_id: str) -> Route:
        # bounds end at 1.0 and a point is below 1: the index is an arm's
        index = bisect.bisect_right(self.bounds, unit_point(self.test_id, unit_id))
        return Route(self.model_ids[index], self.test_id, self.arm_ids[index])

    def model_of(self, arm_id: str | None) -> str | None:
        return self.model_ids[self.arm_ids.index(arm_id)] if arm_id in self.arm_ids else None


@dataclass(frozen=True, slots=True)
class Ending:
    """How a test ended: when, and the winner a verdict named (if any)."""

    at: datetime
    from_verdict: bool
    winner_model_id: str | None = None
    winner_arm: str | None = None

    def winner(self, test: Experiment) -> str | None:
        return self.winner_model_id or test.model_of(self.winner_arm)


@dataclass(frozen=True, slots=True)
class Serving:
    """A name's production model and when it became so."""

    model_id: str
    since: datetime


class RoutingTable:
    """What the router knows; ``apply`` records, ``route`` units. Thread-safe (one lock),
    so a sync router's callers may route while its loop thread applies events."""

    def __init__(self, alias: str = "production") -> None:
        self.alias = alias
        self._lock = threading.Lock()
        self._tests: dict[str, Experiment] = {}
        self._endings: dict[str, Ending] = {}
        self._name_of: dict[str, str] = {}  # model id -> registered name
        self._production: dict[str, Serving] = {}
        self._by_name: dict[str, list[Experiment]] | None = None  # rebuilt after a change
        self._appliers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            AB_TEST_COMMAND: self._command,
            AB_TEST_VERDICT: self._verdict,
            MODEL_REGISTERED: self._registered,
            MODEL_CHANGED: self._changed,
        }

    def apply(self, kind: str, record: Mapping[str, Any]) -> None:
        """Learn from one record of type ``kind``; other types are ignored."""
        applier = self._appliers.get(kind)
        if applier is not None:
            with self._lock:
                applier(record)
                self._by_name = None

    def route(
        self, unit_id: str, *, model_name: str | None = None, test_id: str | None = None
    ) -> Route:
        """The model for ``unit_id``: by test id, or by model name (exactly one of them)."""
        if (model_name is None) == (test_id is None):
            msg = "route by model_name or by test_id, exactly one"
            raise ValueError(msg)
        with self._lock:
            if test_id is not None:
                return self._route_test(unit_id, test_id)
            return self._route_name(unit_id, str(model_name))

    # --- routing -------------------------------------------------------------------------

    def _route_test(self, unit_id: str, test_id: str) -> Route:
        test = self._tests.get(test_id)
        if test is None:
            msg = f"no A/B test {test_id!r} seen yet"
            raise RouteError(msg)
        ending = self._endings.get(test_id)
        if ending is None:
            return test.assign(unit_id)
        return Route(ending.winner(test) or _control(test))

    def _route_name(self, unit_id: str, name: str) -> Route:
        tests = self._tests_of(name)
        running = [t for t in tests if t.test_id not in self._endings]
        if running:
            return running[-1].assign(unit_id)
        serving = self._production.get(name)
        ended = max(tests, key=lambda t: self._endings[t.test_id].at, default=None)
        if ended is not None:
            ending = self._endings[ended.test_id]
            winner = ending.winner(ended)
            if winner and (serving is None or ending.at > serving.since):
                return Route(winner)
        if serving is not None:
            return Route(serving.model_id)
        if ended is not None:
            return Route(_control(ended))
        msg = f"no running A/B test and no {self.alias} model seen for {name!r}"
        raise RouteError(msg)

    def _tests_of(self, name: str) -> list[Experiment]:
        if self._by_name is None:
            self._by_name = self._index()
        return self._by_name.get(name, [])

    def _index(self) -> dict[str, list[Experiment]]:
        """Name -> its tests, oldest created first."""
        index: dict[str, list[Experiment]] = {}
        for test in sorted(self._tests.values(), key=lambda t: t.created):
            names = {self._name_of[m] for m in test.model_ids if m in self._name_of}
            for name in names:
                index.setdefault(name, []).append(test)
        return index

    # --- learning ------------------------------------------------------------------------

    def _command(self, record: Mapping[str, Any]) -> None:
        test_id = str(record["test_id"])
        if record["action"] == "stop":
            self._endings.setdefault(test_id, Ending(record["event_time"], from_verdict=False))
            return
        test = Experiment.from_command(record)
        if test is not None and test_id not in self._tests:  # a replayed create changes nothing
            self._tests[test_id] = test

    def _verdict(self, record: Mapping[str, Any]) -> None:
        test_id = str(record["test_id"])
        known = self._endings.get(test_id)
        if known is None or not known.from_verdict:  # the first verdict is the result
            self._endings[test_id] = Ending(
                record["event_time"], True, record["winner_model_id"], record["winner_arm"]
            )

    def _registered(self, record: Mapping[str, Any]) -> None:
        self._name_of[str(record["model_id"])] = str(record["name"])

    def _changed(self, record: Mapping[str, Any]) -> None:
        model_id, name = str(record["model_id"]), str(record["name"])
        self._name_of[model_id] = name
        if record["change"] in SERVING_CHANGES and record["alias"] == self.alias:
            self._production[name] = Serving(model_id, record["event_time"])


def _control(test: Experiment) -> str:
    return test.model_of(test.control_arm) or test.model_ids[0]
