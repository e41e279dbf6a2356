"""Count, mean and sum of squared deviations of a continuous metric (Welford; Chan to merge).

The naive ``sum(x**2) - n*mean**2`` loses every significant digit when the mean is large
next to the spread (latencies in ms, timestamps); Welford's update and Chan et al.'s pairwise
merge keep the error at a few ulps whatever the order of folding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Moments:
    """``n`` values folded, their ``mean`` and ``m2`` = sum of squared deviations from it."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Moments:
        return cls(int(data["n"]), float(data["mean"]), float(data["m2"]))


@dataclass(frozen=True, slots=True)
class MomentsResult:
    n: int
    mean: float | None
    variance: float | None  # sample variance (n - 1 in the denominator)
    std: float | None


def initial() -> Moments:
    return Moments()


def add(state: Moments, x: float) -> Moments:
    n = state.n + 1
    delta = x - state.mean
    mean = state.mean + delta / n
    return Moments(n, mean, state.m2 + delta * (x - mean))


def add_many(state: Moments, xs: Iterable[float]) -> Moments:
    n, mean, m2 = state.n, state.mean, state.m2
    for x in xs:
        n += 1
        delta = x - mean
        mean += delta / n
        m2 += delta * (x - mean)
    return Moments(n, mean, m2)


def merge(a: Moments, b: Moments) -> Moments:
    if b.n == 0:
        return a
    if a.n == 0:
        return b
    n = a.n + b.n
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.n / n)
    return Moments(n, mean, a.m2 + b.m2 + delta * delta * (a.n * b.n / n))


def variance(state: Moments) -> float | None:
    """Sample variance, or None below two values."""
    return state.m2 / (state.n - 1) if state.n > 1 else None


def result(state: Moments) -> MomentsResult:
    var = variance(state)
    return MomentsResult(
        n=state.n,
        mean=state.mean if state.n else None,
        variance=var,
        std=math.sqrt(var) if var is not None else None,
    )
