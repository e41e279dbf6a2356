"""What the dashboard plots, as plain data (pure): feedback windows and A/B looks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tonebridge.decisions.model_feedback import ModelFeedback
from tonebridge.stats.feedback import FeedbackStats
from tonebridge.stats.windows import Buckets, WindowedFeedback


def feedback_charts(state: ModelFeedback) -> list[dict[str, Any]]:
    """One chart set per transformation type (``"all"`` first): the all-time rating
    histogram and, per bucket of the agents' windows, mean rating and correction rate."""
    windows = {"all": state.overall, **dict(sorted(state.by_type.items()))}
    return [{"type": kind, **windowed(w)} for kind, w in windows.items()]


def windowed(window: WindowedFeedback) -> dict[str, Any]:
    total = window.all_time
    return {
        "histogram": list(total.histogram),
        **bucket_point(total),
        "last_hour": bucket_series(window.recent),
        "last_day": bucket_series(window.day),
    }


def bucket_series(buckets: Buckets) -> list[dict[str, Any]]:
    """Oldest first: ``{"t": bucket start (epoch ms), "count", "mean_rating", ...}``."""
    return [{"t": start, **bucket_point(s)} for start, s in sorted(buckets.buckets.items())]


def bucket_point(stats: FeedbackStats) -> dict[str, Any]:
    return {
        "count": stats.count,
        "mean_rating": stats.rating_sum / stats.rated if stats.rated else None,
        "correction_rate": stats.corrected / stats.count if stats.count else None,
    }


def ab_point(
    at_ms: int, live: Mapping[str, Any] | None, look: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One point of an A/B test's plots: samples per arm and, once outcomes arrived, each
    treatment metric's effect, always-valid interval and p-values, and the SRM p-value."""
    arms = (live or {}).get("arms") or {}
    point: dict[str, Any] = {"t": at_ms, "samples": {a: r["assigned"] for a, r in arms.items()}}
    if look is not None:
        point["rows"] = [_row(row) for row in look.get("rows", ())]
        point["srm_p"] = (look.get("p_values") or {}).get("srm")
    return point


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("arm", "metric", "effect", "ci_low", "ci_high", "p_value", "adjusted_p_value")
    return {key: row.get(key) for key in keys}
