"""The A/B plots' points: appended on change only, bounded per test and in tests."""

from __future__ import annotations

from tonebridge.api.ui.history import History


def test_a_point_is_appended_only_when_something_but_its_time_changed() -> None:
    history = History()
    history.record("t", {"t": 1, "samples": {"a": 1}})
    history.record("t", {"t": 2, "samples": {"a": 1}})
    series = history.record("t", {"t": 3, "samples": {"a": 2}})
    assert series == [{"t": 1, "samples": {"a": 1}}, {"t": 3, "samples": {"a": 2}}]


def test_series_are_bounded_and_the_least_recently_read_goes_first() -> None:
    history = History(max_points=3, max_series=2)
    for n in range(5):
        history.record("a", {"t": n, "n": n})
    assert [p["n"] for p in history.record("a", {"t": 9, "n": 4})] == [2, 3, 4]
    history.record("b", {"t": 0, "n": 0})
    history.record("a", {"t": 10, "n": 4})  # "a" read again: "b" is now the oldest
    history.record("c", {"t": 0, "n": 0})
    assert history.record("b", {"t": 1, "n": 1}) == [{"t": 1, "n": 1}]  # "b" was dropped
    assert len(history.record("c", {"t": 1, "n": 0})) == 1
