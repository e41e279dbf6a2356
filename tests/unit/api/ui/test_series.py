"""What the dashboard plots: feedback buckets folded like the agent, A/B points."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tonebridge.api.ui.series import ab_point, bucket_point, feedback_charts
from tonebridge.decisions.model_feedback import ModelFeedback
from tonebridge.stats import feedback as fb
from tonebridge.stats import windows
from tonebridge.stats.feedback import FeedbackSample

HOUR_MS = 3_600_000


def sample(rating: int | None, corrected: bool, at_ms: int) -> FeedbackSample:
    return fb.make_sample(at_ms, rating, "Please.", "Could you?" if corrected else None)


def test_feedback_charts_plot_each_type_with_its_hourly_buckets() -> None:
    overall, formal = windows.initial(), windows.initial()
    for n, (rating, corrected) in enumerate([(5, False), (1, True), (4, False), (2, True)]):
        at = (n // 2) * HOUR_MS  # two events in each of two hours
        overall = windows.add(overall, sample(rating, corrected, at))
        formal = windows.add(formal, sample(rating, corrected, at))
    state = replace(ModelFeedback(), overall=overall, by_type={"formal": formal})
    charts = feedback_charts(state)
    assert [c["type"] for c in charts] == ["all", "formal"]
    assert charts[0]["histogram"] == [1, 1, 0, 1, 1]
    assert charts[0]["mean_rating"] == 3.0 and charts[0]["correction_rate"] == 0.5
    day = charts[1]["last_day"]
    assert [point["t"] for point in day] == [0, HOUR_MS]
    assert [point["mean_rating"] for point in day] == [3.0, 3.0]
    assert [point["correction_rate"] for point in day] == [0.5, 0.5]


def test_an_empty_bucket_has_no_mean_and_no_rate() -> None:
    assert bucket_point(fb.FeedbackStats()) == {
        "count": 0,
        "mean_rating": None,
        "correction_rate": None,
    }


def test_an_ab_point_carries_samples_rows_and_the_srm_p_value() -> None:
    live: dict[str, Any] = {"arms": {"control": {"assigned": 40}, "treatment": {"assigned": 42}}}
    row = {"arm": "treatment", "metric": "success", "effect": 0.1, "ci_low": -0.2,
           "ci_high": 0.4, "p_value": 0.3, "adjusted_p_value": 0.3,
           "direction": "none"}  # fmt: skip
    look = {"rows": [row], "p_values": {"srm": 0.8, "treatment/success": 0.3}}
    point = ab_point(5, live, look)
    assert point["samples"] == {"control": 40, "treatment": 42}
    assert point["rows"] == [{k: v for k, v in row.items() if k != "direction"}]
    assert point["srm_p"] == 0.8
    assert ab_point(6, None, None) == {"t": 6, "samples": {}}
