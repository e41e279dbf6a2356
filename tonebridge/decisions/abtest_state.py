"""One A/B test's state, as the A/B agent keeps it in its table (pure).

The value of table key ``test_id``: the test's spec, every arm's sufficient statistics (O(1)
in events), the running always-valid bounds, the status, the verdict once there is one, and
the offset marks of the two source topics (commands and outcomes share a partition number),
and the event times the test's time limits count from: its create command's and its latest
outcome's (:mod:`tonebridge.decisions.abtest_limits`).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tonebridge.decisions.watermarks import advance, is_applied, source_id
from tonebridge.errors import InvalidEventError
from tonebridge.stats import abtests as abtest
from tonebridge.stats import arms
from tonebridge.stats.abtests import ABState
from tonebridge.stats.arms import ArmObservation, observation_from_outcome
from tonebridge.stats.decide import evaluate
from tonebridge.stats.spec import SUCCESS, ABSpec, spec_from_command
from tonebridge.stats.verdict import Decision
from tonebridge.topics.abtests import AB_TEST_COMMAND
from tonebridge.topics.messages import Item, Origin, Reject, Rejected

Status = Literal["running", "decided", "stopped"]
# Namespace of verdict and rollback ids: a replay produces the same ids.
_NAMESPACE = uuid.UUID("5d0e7f3a-91b2-4c6d-8e1f-2a3b4c5d6e7f")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ABTestState:
    spec: ABSpec
    stats: ABState
    status: Status = "running"
    verdict: Mapping[str, Any] | None = None  # ABTestVerdict fields (event_time in epoch ms)
    marks: Mapping[str, int] = field(default_factory=dict)
    started_ms: int | None = None  # the create command's event time (epoch ms)
    last_outcome_ms: int | None = None  # the latest counted outcome's event time (epoch ms)

    def to_json(self) -> bytes:
        data = {
            "spec": self.spec.to_dict(),
            "stats": self.stats.to_dict(),
            "status": self.status,
            "verdict": self.verdict,
            "marks": dict(self.marks),
            "started_ms": self.started_ms,
            "last_outcome_ms": self.last_outcome_ms,
        }
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> ABTestState:
        data = json.loads(payload)
        return cls(
            spec_from_command(data["spec"]),
            ABState.from_dict(data["stats"]),
            data["status"],
            data["verdict"],
            {k: int(v) for k, v in data["marks"].items()},
            data.get("started_ms"),  # absent in values stored before the time limits
            data.get("last_outcome_ms"),
        )


@dataclass(frozen=True, slots=True)
class Effects:
    """What a change of a test asks the agent to do, besides storing the new state."""

    # ABTestVerdict fields, ``event_time`` as epoch ms so the state stays JSON
    verdict: Mapping[str, Any] | None = None
    decision: Decision | None = None
    rollback: tuple[str, ...] = ()  # model ids whose deployment a guardrail breach revokes
    losers: tuple[str, ...] = ()  # model ids that lost the test


NOTHING = Effects()


def effect_id(test_id: str, what: str) -> str:
    """A deterministic event id for one effect of a test."""
    return str(uuid.uuid5(_NAMESPACE, f"{test_id}|{what}"))


Part = tuple[Origin, Sequence[Item]]  # one message's items of one test


def apply(
    state: ABTestState | None, parts: Sequence[Part]
) -> tuple[ABTestState | None, Effects, list[Rejected]]:
    """Apply one test's part of a batch of messages, in order, each message exactly once.

    Outcomes of an unknown or finished test, for an arm the test does not have, or naming
    another model than their arm serves are rejected. The test is looked at once after its
    outcomes (and before a command that follows them).
    """
    effects, rejected = NOTHING, []
    pending: list[Mapping[str, Any]] = []
    for origin, items in parts:
        source = source_id(origin.topic, origin.partition)
        if state is not None and is_applied(state.marks, source, origin.offset):
            continue  # applied before a crash: replayed
        counted = _counted_outcomes(state, items)  # the common case: outcomes that all count
        pending += counted or ()
        for item in items if counted is None else ():
            try:
                if item.name == AB_TEST_COMMAND:
                    state, effects = _look(state, pending, effects)
                    pending = []
                    state, effects = _merged(effects, *_command(state, item.record))
                else:
                    pending.append(_checked_outcome(state, item.record))
            except InvalidEventError as exc:
                rejected.append((origin, Reject(item.index, item.payload, exc)))
        if state is not None:
            state = replace(state, marks=advance(state.marks, source, origin.offset))
    state, effects = _look(state, pending, effects)
    return state, effects, rejected


def _merged(
    effects: Effects, state: ABTestState | None, new: Effects
) -> tuple[ABTestState | None, Effects]:
    return state, (new if new.verdict is not None else effects)


def _look(
    state: ABTestState | None, outcomes: Sequence[Mapping[str, Any]], effects: Effects
) -> tuple[ABTestState | None, Effects]:
    if state is None or not outcomes or state.status != "running":
        return state, effects
    return _merged(effects, *_outcomes(state, outcomes))


def _command(state: ABTestState | None, record: Mapping[str, Any]) -> tuple[ABTestState, Effects]:
    """Create or stop a test. A second create of a known test id changes nothing."""
    if record["action"] == "create":
        if state is not None:
            return state, NOTHING
        spec = spec_from_command(record)  # raises InvalidEventError for a bad spec
        started = _ms(record["event_time"])
        return ABTestState(spec, abtest.initial(spec), started_ms=started), NOTHING
    if state is None:
        msg = f"stop for unknown A/B test {record['test_id']!r}"
        raise InvalidEventError(msg)
    if state.status != "running":
        return state, NOTHING
    verdict = {
        "event_id": effect_id(state.spec.test_id, "stopped"),
        "event_time": _ms(record["event_time"]),
        "test_id": state.spec.test_id,
        "decision": "stopped",
        "samples": {arm: s.assigned for arm, s in state.stats.arms.items()},
        "reason": record.get("reason") or "stopped by command",
    }
    return finished(state, "stopped", verdict), Effects(verdict=verdict)


def _counted_outcomes(
    state: ABTestState | None, items: Sequence[Item]
) -> list[Mapping[str, Any]] | None:
    """The records of ``items`` if each is an outcome that :func:`_checked_outcome` accepts
    (checked for all at once); None if any may not be (then each is checked alone)."""
    if state is None or state.status != "running":
        return None
    arms = state.stats.arms
    served: dict[object, object] = {
        a.arm_id: a.model_id for a in state.spec.arms if a.arm_id in arms
    }
    records: list[Mapping[str, Any]] = [i.record for i in items if i.name != AB_TEST_COMMAND]
    if len(records) != len(items):
        return None
    fit = [r for r in records if served.get(r.get("arm_id"), _NO_MODEL) == r.get("model_id")]
    return records if len(fit) == len(records) else None


_NO_MODEL = object()  # what an arm the test does not have serves: equal to no model id


def _checked_outcome(state: ABTestState | None, record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The outcome if it may count: its test runs, has its arm, and the arm serves its model."""
    if state is None:
        msg = f"outcome for unknown A/B test {record.get('ab_test_id')!r}"
        raise InvalidEventError(msg)
    test_id, arm = state.spec.test_id, record.get("arm_id")
    if state.status != "running":
        msg = f"A/B test {test_id!r} is finished ({state.status}): a late outcome is not counted"
        raise InvalidEventError(msg)
    if arm not in state.stats.arms:
        msg = f"arm {arm!r} is not an arm of A/B test {test_id!r}"
        raise InvalidEventError(msg)
    served = state.spec.model_of(str(arm))
    if record.get("model_id") != served:
        msg = (
            f"outcome of model {record.get('model_id')!r} for arm {arm!r} of A/B test "
            f"{test_id!r}, which serves model {served!r}"
        )
        raise InvalidEventError(msg)
    return record


def _outcomes(
    state: ABTestState, records: Sequence[Mapping[str, Any]]
) -> tuple[ABTestState, Effects]:
    stats, decision = evaluate(state.spec, _added(state, records))
    at_ms = _latest_ms([r["event_time"] for r in records])
    latest = max(at_ms, state.last_outcome_ms or at_ms)
    state = replace(state, stats=stats, last_outcome_ms=latest)
    if not decision.is_final:
        return state, NOTHING
    return _decided(state, decision, at_ms)


def _added(state: ABTestState, records: Sequence[Mapping[str, Any]]) -> ABState:
    """The test's statistics with ``records`` (outcomes that count) folded in."""
    metrics, covariate = state.spec.metrics, state.spec.covariate
    if covariate is None and [(m.name, m.kind) for m in metrics] == [(SUCCESS, "binary")]:
        successes = [(str(r["arm_id"]), r.get("success")) for r in records]
        return abtest.add_successes(state.stats, successes)  # the common case, counted at once
    pairs: list[tuple[str, ArmObservation]] = [
        (str(r["arm_id"]), observation_from_outcome(r, metrics, covariate)) for r in records
    ]
    return abtest.add_many(state.stats, pairs)


def _decided(state: ABTestState, decision: Decision, at_ms: int) -> tuple[ABTestState, Effects]:
    spec = state.spec
    verdict = {
        "event_id": effect_id(spec.test_id, "verdict"),
        "event_time": at_ms,
        **decision.verdict_fields(),
    }
    if decision.kind == "guardrail_violation":
        worse = {r.arm for r in decision.rows if r.guardrail and r.direction == "worse"}
        rollback = tuple(spec.model_of(a) for a in spec.treatments if a in worse)
        losers = rollback
    elif decision.kind == "winner":
        rollback = ()
        losers = tuple(a.model_id for a in spec.arms if a.arm_id != decision.arm)
    else:
        rollback, losers = (), ()
    return finished(state, "decided", verdict), Effects(verdict, decision, rollback, losers)


def finished(state: ABTestState, status: Status, verdict: Mapping[str, Any]) -> ABTestState:
    """The state a finished test keeps: spec, status, verdict and marks, no arm statistics.

    The verdict (on its topic and in the ``ab_tests`` row) holds the results; the small
    value left refuses late outcomes and a second create of the id, without I/O.
    """
    stats = replace(state.stats, arms={}, bounds={})
    return replace(state, stats=stats, status=status, verdict=verdict)


def _ms(moment: datetime) -> int:
    """Epoch milliseconds of an event time (a record's, or ``now`` for the limits)."""
    return int(moment.timestamp() * 1000)


def _latest_ms(times: Sequence[datetime | int]) -> int:
    """:func:`_ms` of the latest of ``times``: datetimes, or epoch ms where the outcomes were
    read so for the folds (``TopicSpec.read_millis``; taken through the datetime they stand
    for, so the result is the same). :func:`_ms` keeps the order of times."""
    millis = [t for t in times if isinstance(t, int)]
    moments = [t for t in times if isinstance(t, datetime)]
    latest = [_ms(max(moments))] if moments else []
    if millis:
        latest.append(_ms(_EPOCH + timedelta(milliseconds=max(millis))))
    return max(latest)


def view(state: ABTestState) -> dict[str, Any]:
    """The test as plain data, for readers: spec, status, per-arm results, verdict."""
    return {
        "test_id": state.spec.test_id,
        "status": state.status,
        "spec": state.spec.to_dict(),
        "arms": {arm: _plain(arms.result(s)) for arm, s in state.stats.arms.items()},
        "looks": state.stats.looks,
        "verdict": None if state.verdict is None else dict(state.verdict),
    }


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def current_look(state: ABTestState) -> dict[str, Any] | None:
    """What a look now would find for a running test with outcomes (effects, always-valid
    intervals, p-values, SRM), as plain data; None for a finished or empty test."""
    if state.status != "running" or not any(s.assigned for s in state.stats.arms.values()):
        return None
    return evaluate(state.spec, state.stats)[1].to_dict()
