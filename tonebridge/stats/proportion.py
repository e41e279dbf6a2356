"""Successes out of trials of a binary metric."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Proportion:
    successes: int = 0
    trials: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"successes": self.successes, "trials": self.trials}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Proportion:
        return cls(int(data["successes"]), int(data["trials"]))


@dataclass(frozen=True, slots=True)
class ProportionResult:
    successes: int
    trials: int
    rate: float | None


def initial() -> Proportion:
    return Proportion()


def add(state: Proportion, success: bool) -> Proportion:
    return Proportion(state.successes + (1 if success else 0), state.trials + 1)


def add_many(state: Proportion, outcomes: Iterable[bool]) -> Proportion:
    successes, trials = state.successes, state.trials
    for success in outcomes:
        trials += 1
        if success:
            successes += 1
    return Proportion(successes, trials)


def merge(a: Proportion, b: Proportion) -> Proportion:
    return Proportion(a.successes + b.successes, a.trials + b.trials)


def rate(state: Proportion) -> float | None:
    return state.successes / state.trials if state.trials else None


def result(state: Proportion) -> ProportionResult:
    return ProportionResult(state.successes, state.trials, rate(state))
