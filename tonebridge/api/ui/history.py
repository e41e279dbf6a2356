"""The points an A/B test's plots are drawn from, kept by the API process as it reads them.

The A/B agent's table holds a test's current state only; each time the dashboard reads a
test whose state changed, its point is appended here, so the plots show how samples, the
effect and its always-valid interval moved while the page (or any other) watched. A test
that finished keeps its points; a restarted API starts again from the current state.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

MAX_POINTS = 500
MAX_SERIES = 5000


class History:
    """Bounded series of points per key; a point equal to the last one (but its time) is
    not appended again."""

    def __init__(self, max_points: int = MAX_POINTS, max_series: int = MAX_SERIES) -> None:
        self._series: OrderedDict[str, deque[dict[str, Any]]] = OrderedDict()
        self._max_points, self._max_series = max_points, max_series

    def record(self, key: str, point: dict[str, Any]) -> list[dict[str, Any]]:
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = deque(maxlen=self._max_points)
            if len(self._series) > self._max_series:
                self._series.popitem(last=False)  # the series read least recently goes
        self._series.move_to_end(key)
        if not series or _content(series[-1]) != _content(point):
            series.append(point)
        return list(series)


def _content(point: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in point.items() if k != "t"}
