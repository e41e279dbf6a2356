"""Feedback statistics of one model (or one model and transformation type) as a fold.

An event is first reduced to a small :class:`FeedbackSample` (``sample_from_record``): that is
where the edit distance is computed, once, with rapidfuzz's C Levenshtein. The fold then only
adds integers and floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from rapidfuzz.distance import Levenshtein

from tonebridge.errors import InvalidEventError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
RATINGS = (1, 2, 3, 4, 5)


class FeedbackSample(NamedTuple):
    """What the statistics need of one feedback event (a tuple: one is made per event)."""

    event_time_ms: int
    rating: int | None
    has_correction: bool  # corrected_text present
    corrected: bool  # corrected_text present and different from output_text
    edit_distance: float  # Levenshtein / max(len); 0.0 without a correction


@dataclass(frozen=True, slots=True)
class FeedbackStats:
    count: int = 0
    rated: int = 0
    rating_sum: int = 0
    rating_sq_sum: int = 0
    histogram: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # ratings 1..5
    with_correction: int = 0
    corrected: int = 0
    edit_distance_sum: float = 0.0  # over events with a correction text

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "rated": self.rated,
            "rating_sum": self.rating_sum,
            "rating_sq_sum": self.rating_sq_sum,
            "histogram": list(self.histogram),
            "with_correction": self.with_correction,
            "corrected": self.corrected,
            "edit_distance_sum": self.edit_distance_sum,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeedbackStats:
        # no int()/float() casts: this runs for every bucket of every restored window state
        h = data["histogram"]
        return cls(
            data["count"],
            data["rated"],
            data["rating_sum"],
            data["rating_sq_sum"],
            (h[0], h[1], h[2], h[3], h[4]),
            data["with_correction"],
            data["corrected"],
            float(data["edit_distance_sum"]),
        )


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    count: int
    rated: int
    mean_rating: float | None
    rating_histogram: dict[int, int]
    correction_rate: float | None  # corrected / count
    corrections: int
    mean_edit_distance: float | None  # over events with a correction text

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "rated": self.rated,
            "mean_rating": self.mean_rating,
            "rating_histogram": {str(k): v for k, v in self.rating_histogram.items()},
            "correction_rate": self.correction_rate,
            "corrections": self.corrections,
            "mean_edit_distance": self.mean_edit_distance,
        }


def edit_distance(output_text: str, corrected_text: str) -> float:
    """Levenshtein distance divided by the longer length; 0.0 for two empty texts."""
    return float(Levenshtein.normalized_distance(output_text, corrected_text))


def to_epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        msg = "event time must be timezone-aware"
        raise InvalidEventError(msg)
    return (moment - _EPOCH) // _MS


def make_sample(
    event_time_ms: int, rating: int | None, output_text: str, corrected_text: str | None
) -> FeedbackSample:
    if rating is not None and rating not in RATINGS:
        msg = f"rating must be 1..5 or null, got {rating}"
        raise InvalidEventError(msg)
    if corrected_text is None:
        return FeedbackSample(event_time_ms, rating, False, False, 0.0)
    if corrected_text == output_text:
        return FeedbackSample(event_time_ms, rating, True, False, 0.0)
    distance = edit_distance(output_text, corrected_text)
    return FeedbackSample(event_time_ms, rating, True, True, distance)


def sample_from_record(record: Mapping[str, Any]) -> FeedbackSample:
    """Reduce a decoded FeedbackEvent record (field names of feedback_event.v1.avsc)."""
    return make_sample(
        to_epoch_ms(record["event_time"]),
        record.get("rating"),
        record["output_text"],
        record.get("corrected_text"),
    )


_RATED_OR_NOT = (None, *RATINGS)


def samples_from_records(records: Iterable[Mapping[str, Any]]) -> list[FeedbackSample]:
    """:func:`sample_from_record` of each record, in one loop (one call per message)."""
    records = list(records)
    times = [record["event_time"] for record in records]
    if any(type(moment) is not datetime or moment.tzinfo is None for moment in times):
        return [sample_from_record(record) for record in records]  # raises, or unusual times
    return _samples([(moment - _EPOCH) // _MS for moment in times], records)


def samples_from_millis(records: Iterable[Mapping[str, Any]]) -> list[FeedbackSample]:
    """:func:`samples_from_records` of records whose ``event_time`` was read as epoch
    milliseconds (``TopicSpec.read_millis``); raises InvalidEventError as it does."""
    records = list(records)
    return _samples([record["event_time"] for record in records], records)


_new = tuple.__new__  # FeedbackSample(...) runs NamedTuple's __new__ in Python; this is C only


def _samples(times_ms: list[int], records: list[Mapping[str, Any]]) -> list[FeedbackSample]:
    """:func:`make_sample` of each record at its time, inlined for the common ratings."""
    samples: list[FeedbackSample] = []
    for ms, record in zip(times_ms, records, strict=True):
        rating, output, fixed = (
            record.get("rating"),
            record["output_text"],
            record.get("corrected_text"),
        )
        if rating not in _RATED_OR_NOT:
            samples.append(make_sample(ms, rating, output, fixed))  # raises
        elif fixed is None:
            samples.append(_new(FeedbackSample, (ms, rating, False, False, 0.0)))
        elif fixed == output:
            samples.append(_new(FeedbackSample, (ms, rating, True, False, 0.0)))
        else:
            distance = edit_distance(output, fixed)
            samples.append(_new(FeedbackSample, (ms, rating, True, True, distance)))
    return samples


def initial() -> FeedbackStats:
    return FeedbackStats()


def _bump(h: tuple[int, int, int, int, int], rating: int) -> tuple[int, int, int, int, int]:
    c = list(h)
    c[rating - 1] += 1
    return (c[0], c[1], c[2], c[3], c[4])


def add(state: FeedbackStats, sample: FeedbackSample) -> FeedbackStats:
    r = sample.rating
    h = state.histogram if r is None else _bump(state.histogram, r)
    return FeedbackStats(
        state.count + 1,
        state.rated + (r is not None),
        state.rating_sum + (r or 0),
        state.rating_sq_sum + (r or 0) ** 2,
        h,
        state.with_correction + sample.has_correction,
        state.corrected + sample.corrected,
        state.edit_distance_sum + sample.edit_distance,
    )


def add_many(state: FeedbackStats, samples: Iterable[FeedbackSample]) -> FeedbackStats:
    count, rated, rsum, rsq = state.count, state.rated, state.rating_sum, state.rating_sq_sum
    hist = [0, *state.histogram]  # index = rating
    with_correction, corrected, edits = (
        state.with_correction,
        state.corrected,
        state.edit_distance_sum,
    )
    for s in samples:
        count += 1
        r = s.rating
        if r is not None:
            hist[r] += 1
            rated += 1
            rsum += r
            rsq += r * r
        if s.has_correction:
            with_correction += 1
            corrected += s.corrected
            edits += s.edit_distance
    return FeedbackStats(
        count, rated, rsum, rsq, (hist[1], hist[2], hist[3], hist[4], hist[5]),
        with_correction, corrected, edits,
    )  # fmt: skip


def merge(a: FeedbackStats, b: FeedbackStats) -> FeedbackStats:
    ha, hb = a.histogram, b.histogram
    return FeedbackStats(
        a.count + b.count,
        a.rated + b.rated,
        a.rating_sum + b.rating_sum,
        a.rating_sq_sum + b.rating_sq_sum,
        (ha[0] + hb[0], ha[1] + hb[1], ha[2] + hb[2], ha[3] + hb[3], ha[4] + hb[4]),
        a.with_correction + b.with_correction,
        a.corrected + b.corrected,
        a.edit_distance_sum + b.edit_distance_sum,
    )


def result(state: FeedbackStats) -> FeedbackSummary:
    return FeedbackSummary(
        count=state.count,
        rated=state.rated,
        mean_rating=state.rating_sum / state.rated if state.rated else None,
        rating_histogram=dict(zip(RATINGS, state.histogram, strict=True)),
        correction_rate=state.corrected / state.count if state.count else None,
        corrections=state.corrected,
        mean_edit_distance=(
            state.edit_distance_sum / state.with_correction if state.with_correction else None
        ),
    )
