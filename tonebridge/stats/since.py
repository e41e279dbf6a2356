"""Feedback counted since a moment in event time, for the retraining policy.

Typical use: ``since_ms`` is the event time of the last training command for the model; the
policy retrains once ``corrected`` reaches its threshold, then starts a new count with
``initial(new_since_ms)``. Events older than ``since_ms`` are ignored, so late events from
before the last training never count twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tonebridge.stats.feedback import FeedbackSample


@dataclass(frozen=True, slots=True)
class SinceCount:
    since_ms: int
    count: int = 0
    corrected: int = 0
    rated: int = 0
    rating_sum: int = 0
    newest_ms: int | None = None  # newest event time counted

    def to_dict(self) -> dict[str, Any]:
        return {
            "since_ms": self.since_ms,
            "count": self.count,
            "corrected": self.corrected,
            "rated": self.rated,
            "rating_sum": self.rating_sum,
            "newest_ms": self.newest_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SinceCount:
        newest = data["newest_ms"]
        return cls(
            int(data["since_ms"]),
            int(data["count"]),
            int(data["corrected"]),
            int(data["rated"]),
            int(data["rating_sum"]),
            None if newest is None else int(newest),
        )


@dataclass(frozen=True, slots=True)
class SinceSummary:
    since_ms: int
    count: int
    corrected: int
    rated: int
    mean_rating: float | None
    newest_ms: int | None


def initial(since_ms: int) -> SinceCount:
    return SinceCount(since_ms)


def _newer(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None or a >= b else b


def add(state: SinceCount, sample: FeedbackSample) -> SinceCount:
    if sample.event_time_ms < state.since_ms:
        return state
    rating = sample.rating
    return SinceCount(
        state.since_ms,
        state.count + 1,
        state.corrected + sample.corrected,
        state.rated + (rating is not None),
        state.rating_sum + (rating or 0),
        _newer(state.newest_ms, sample.event_time_ms),
    )


def add_many(state: SinceCount, samples: Iterable[FeedbackSample]) -> SinceCount:
    count, corrected, rated, rating_sum = (
        state.count,
        state.corrected,
        state.rated,
        state.rating_sum,
    )
    newest = state.newest_ms
    for s in samples:
        if s.event_time_ms < state.since_ms:
            continue
        count += 1
        corrected += s.corrected
        if s.rating is not None:
            rated += 1
            rating_sum += s.rating
        newest = _newer(newest, s.event_time_ms)
    return SinceCount(state.since_ms, count, corrected, rated, rating_sum, newest)


def merge(a: SinceCount, b: SinceCount) -> SinceCount:
    """Counts with the same ``since_ms`` add up; otherwise the later start wins.

    A count from an earlier start cannot be cut back to a later one, and the later start is
    the one that matters after a retraining.
    """
    if a.since_ms != b.since_ms:
        return a if a.since_ms > b.since_ms else b
    return SinceCount(
        a.since_ms,
        a.count + b.count,
        a.corrected + b.corrected,
        a.rated + b.rated,
        a.rating_sum + b.rating_sum,
        _newer(a.newest_ms, b.newest_ms),
    )


def result(state: SinceCount) -> SinceSummary:
    return SinceSummary(
        since_ms=state.since_ms,
        count=state.count,
        corrected=state.corrected,
        rated=state.rated,
        mean_rating=state.rating_sum / state.rated if state.rated else None,
        newest_ms=state.newest_ms,
    )
