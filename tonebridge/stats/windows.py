"""Feedback statistics over event-time windows: the last hour, the last day and all time.

Events fall into fixed buckets by their own timestamp (never the consumer's clock). A bucket
set keeps only its ``size`` newest buckets, counted back from the newest event seen, so its
state is bounded; an event older than that is counted in ``all_time`` only. Because the kept
buckets depend only on the newest event time, folding in any order or in chunks and merging
gives the same state. The defaults: 1 h = 12 buckets of 5 min (a window hopping every 5 min),
24 h = 24 buckets of 1 h (hopping hourly), which keeps a state at 37 small records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tonebridge.stats import feedback
from tonebridge.stats.feedback import FeedbackSample, FeedbackStats, FeedbackSummary

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Buckets:
    """The ``size`` newest ``bucket_ms`` buckets, keyed by start (epoch ms)."""

    bucket_ms: int
    size: int
    newest: int | None = None  # start of the bucket of the newest event seen
    buckets: Mapping[int, FeedbackStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket_ms": self.bucket_ms,
            "size": self.size,
            "newest": self.newest,
            "buckets": {str(k): v.to_dict() for k, v in self.buckets.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Buckets:
        buckets = {int(k): FeedbackStats.from_dict(v) for k, v in data["buckets"].items()}
        newest = data["newest"]
        return cls(int(data["bucket_ms"]), int(data["size"]), newest, buckets)

    def oldest_kept(self) -> int | None:
        return None if self.newest is None else self.newest - (self.size - 1) * self.bucket_ms


def _evicted(kept: dict[int, FeedbackStats], oldest: int) -> dict[int, FeedbackStats]:
    return {k: v for k, v in kept.items() if k >= oldest}


def buckets_add(state: Buckets, sample: FeedbackSample) -> Buckets:
    start = sample.event_time_ms - sample.event_time_ms % state.bucket_ms
    newest = state.newest
    if newest is not None and start <= newest - state.size * state.bucket_ms:
        return state  # later than the window can still hold
    kept = dict(state.buckets)
    kept[start] = feedback.add(kept.get(start, FeedbackStats()), sample)
    if newest is not None and start <= newest:
        return Buckets(state.bucket_ms, state.size, newest, kept)
    oldest = start - (state.size - 1) * state.bucket_ms
    return Buckets(state.bucket_ms, state.size, start, _evicted(kept, oldest))


def buckets_merge(a: Buckets, b: Buckets) -> Buckets:
    if (a.bucket_ms, a.size) != (b.bucket_ms, b.size):
        msg = "cannot merge bucket sets of different shapes"
        raise ValueError(msg)
    if a.newest is None or b.newest is None:
        return b if a.newest is None else a
    kept = dict(a.buckets)
    for start, stats in b.buckets.items():
        kept[start] = feedback.merge(kept[start], stats) if start in kept else stats
    newest = max(a.newest, b.newest)
    oldest = newest - (a.size - 1) * a.bucket_ms
    if newest == a.newest and min(b.buckets, default=newest) >= oldest:
        return Buckets(a.bucket_ms, a.size, newest, kept)  # nothing leaves the window
    return Buckets(a.bucket_ms, a.size, newest, _evicted(kept, oldest))


def buckets_total(state: Buckets, now_ms: int | None = None) -> FeedbackStats:
    """Merge the kept buckets; with ``now_ms``, only those inside the window ending then."""
    newest = state.newest if now_ms is None else now_ms - now_ms % state.bucket_ms
    if newest is None:
        return FeedbackStats()
    oldest = newest - (state.size - 1) * state.bucket_ms
    total = FeedbackStats()
    for start, stats in state.buckets.items():
        if oldest <= start <= newest:
            total = feedback.merge(total, stats)
    return total


def _bucket_stats(bucket_ms: int, samples: list[FeedbackSample]) -> dict[int, FeedbackStats]:
    """Each ``bucket_ms`` bucket's statistics of ``samples``, keyed by start (epoch ms)."""
    groups: dict[int, list[FeedbackSample]] = defaultdict(list)
    for s in samples:
        groups[s.event_time_ms - s.event_time_ms % bucket_ms].append(s)
    return {k: feedback.add_many(FeedbackStats(), v) for k, v in groups.items()}


def _kept(shape: Buckets, stats: dict[int, FeedbackStats]) -> Buckets:
    """``stats`` as ``shape``'s buckets: those the window of the newest one holds."""
    newest = max(stats)
    oldest = newest - (shape.size - 1) * shape.bucket_ms
    kept = {k: v for k, v in stats.items() if k >= oldest}
    return Buckets(shape.bucket_ms, shape.size, newest, kept)


def _batch_buckets(shape: Buckets, samples: list[FeedbackSample]) -> Buckets:
    return _kept(shape, _bucket_stats(shape.bucket_ms, samples))


def _coarser(stats: dict[int, FeedbackStats], bucket_ms: int) -> dict[int, FeedbackStats]:
    """Buckets of ``bucket_ms`` merged from finer ones that each lie inside one of them."""
    coarse: dict[int, FeedbackStats] = {}
    for start, part in stats.items():
        at = start - start % bucket_ms
        coarse[at] = feedback.merge(coarse[at], part) if at in coarse else part
    return coarse


@dataclass(frozen=True, slots=True)
class WindowedFeedback:
    all_time: FeedbackStats
    recent: Buckets
    day: Buckets

    def to_dict(self) -> dict[str, Any]:
        return {
            "all_time": self.all_time.to_dict(),
            "recent": self.recent.to_dict(),
            "day": self.day.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowedFeedback:
        return cls(
            FeedbackStats.from_dict(data["all_time"]),
            Buckets.from_dict(data["recent"]),
            Buckets.from_dict(data["day"]),
        )


@dataclass(frozen=True, slots=True)
class WindowedSummary:
    all_time: FeedbackSummary
    last_hour: FeedbackSummary
    last_day: FeedbackSummary
    newest_event_bucket_ms: int | None  # start of the 5-min bucket of the newest event

    def to_dict(self) -> dict[str, Any]:
        return {
            "all_time": self.all_time.to_dict(),
            "last_hour": self.last_hour.to_dict(),
            "last_day": self.last_day.to_dict(),
            "newest_event_bucket_ms": self.newest_event_bucket_ms,
        }


def initial(
    recent_bucket_ms: int = 5 * MINUTE_MS,
    recent_buckets: int = 12,
    day_bucket_ms: int = 60 * MINUTE_MS,
    day_buckets: int = 24,
) -> WindowedFeedback:
    return WindowedFeedback(
        FeedbackStats(),
        Buckets(recent_bucket_ms, recent_buckets),
        Buckets(day_bucket_ms, day_buckets),
    )


def add(state: WindowedFeedback, sample: FeedbackSample) -> WindowedFeedback:
    return WindowedFeedback(
        feedback.add(state.all_time, sample),
        buckets_add(state.recent, sample),
        buckets_add(state.day, sample),
    )


def add_many(state: WindowedFeedback, samples: Iterable[FeedbackSample]) -> WindowedFeedback:
    batch = list(samples)
    if not batch:
        return state
    recent_ms = state.recent.bucket_ms
    start = batch[0].event_time_ms - batch[0].event_time_ms % recent_ms
    if state.day.bucket_ms % recent_ms == 0 and all(
        start <= s.event_time_ms < start + recent_ms for s in batch
    ):
        return _add_to_one_bucket(state, start, feedback.add_many(FeedbackStats(), batch))
    return merge(state, _folded(state.recent, state.day, batch))


def _add_to_one_bucket(
    state: WindowedFeedback, start: int, stats: FeedbackStats
) -> WindowedFeedback:
    """:func:`add_many` of samples that all fall in the recent bucket at ``start`` (the common
    case for a live stream), whose statistics are ``stats``: the same merges in the same
    order, without grouping by bucket."""
    day_start = start - start % state.day.bucket_ms
    return WindowedFeedback(
        feedback.merge(state.all_time, stats),
        buckets_merge(state.recent, _kept(state.recent, {start: stats})),
        buckets_merge(state.day, _kept(state.day, {day_start: stats})),
    )


def _folded(recent: Buckets, day: Buckets, batch: list[FeedbackSample]) -> WindowedFeedback:
    """``batch`` alone in these window shapes. When a day bucket is a whole number of recent
    buckets (as by default), each sample is added once, to its recent bucket, and the day
    buckets and the total are merged from those."""
    if day.bucket_ms % recent.bucket_ms:
        return WindowedFeedback(
            feedback.add_many(FeedbackStats(), batch),
            _batch_buckets(recent, batch),
            _batch_buckets(day, batch),
        )
    fine = _bucket_stats(recent.bucket_ms, batch)
    total = FeedbackStats()
    for part in fine.values():
        total = feedback.merge(total, part)
    return WindowedFeedback(total, _kept(recent, fine), _kept(day, _coarser(fine, day.bucket_ms)))


def merge(a: WindowedFeedback, b: WindowedFeedback) -> WindowedFeedback:
    return WindowedFeedback(
        feedback.merge(a.all_time, b.all_time),
        buckets_merge(a.recent, b.recent),
        buckets_merge(a.day, b.day),
    )


def result(state: WindowedFeedback, now_ms: int | None = None) -> WindowedSummary:
    """Summaries; windows end at the newest event seen, or at ``now_ms`` (event time) if given."""
    return WindowedSummary(
        all_time=feedback.result(state.all_time),
        last_hour=feedback.result(buckets_total(state.recent, now_ms)),
        last_day=feedback.result(buckets_total(state.day, now_ms)),
        newest_event_bucket_ms=state.recent.newest,
    )
