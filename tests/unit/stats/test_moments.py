"""Welford/Chan moments against numpy, and chunked folding == folding once."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tonebridge.stats import moments
from tonebridge.stats.moments import Moments

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def fold(xs: list[float]) -> Moments:
    state = moments.initial()
    for x in xs:
        state = moments.add(state, x)
    return state


def assert_close(a: Moments, b: Moments) -> None:
    assert a.n == b.n
    scale = max(1.0, abs(a.mean), abs(b.mean))
    assert math.isclose(a.mean, b.mean, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert math.isclose(a.m2, b.m2, rel_tol=1e-7, abs_tol=1e-6 * scale * scale)


def test_matches_numpy_on_fixed_data() -> None:
    xs = [2.5, 3.0, -1.0, 7.25, 0.0, 4.5, 4.5, 10.0]
    summary = moments.result(fold(xs))
    assert summary.n == len(xs)
    assert summary.mean == pytest.approx(np.mean(xs), rel=1e-12)
    assert summary.variance == pytest.approx(np.var(xs, ddof=1), rel=1e-12)


def test_large_offset_keeps_the_variance() -> None:
    """The textbook sum-of-squares formula returns garbage here; Welford does not."""
    rng = np.random.default_rng(7)
    xs = (1e9 + rng.normal(0.0, 1.0, 10_000)).tolist()
    halves = moments.merge(fold(xs[:3000]), moments.add_many(moments.initial(), xs[3000:]))
    expected = float(np.var(np.array(xs) - 1e9, ddof=1))
    assert moments.variance(fold(xs)) == pytest.approx(expected, rel=1e-6)
    assert moments.variance(halves) == pytest.approx(expected, rel=1e-6)


def test_empty_and_single_value() -> None:
    assert moments.result(moments.initial()).mean is None
    one = moments.result(moments.add(moments.initial(), 3.0))
    assert (one.mean, one.variance) == (3.0, None)


@given(st.lists(st.lists(values, max_size=20), max_size=8))
def test_chunks_merged_equal_one_fold(chunks: list[list[float]]) -> None:
    merged = moments.initial()
    for chunk in chunks:
        merged = moments.merge(merged, fold(chunk))
    assert_close(merged, fold([x for chunk in chunks for x in chunk]))


@given(st.lists(values, max_size=50))
def test_add_many_equals_add(xs: list[float]) -> None:
    assert moments.add_many(moments.initial(), xs) == fold(xs)


@given(st.lists(values, max_size=10))
def test_json_round_trip(xs: list[float]) -> None:
    state = fold(xs)
    assert Moments.from_dict(json.loads(json.dumps(state.to_dict()))) == state
