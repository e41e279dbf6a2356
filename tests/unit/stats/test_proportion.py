"""Successes/trials fold."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tonebridge.stats import proportion
from tonebridge.stats.proportion import Proportion


def fold(outcomes: list[bool]) -> Proportion:
    state = proportion.initial()
    for outcome in outcomes:
        state = proportion.add(state, outcome)
    return state


def test_rate() -> None:
    summary = proportion.result(fold([True, False, True, True]))
    assert (summary.successes, summary.trials, summary.rate) == (3, 4, 0.75)
    assert proportion.result(proportion.initial()).rate is None


@given(st.lists(st.lists(st.booleans(), max_size=20), max_size=8))
def test_chunks_merged_equal_one_fold(chunks: list[list[bool]]) -> None:
    merged = proportion.initial()
    for chunk in chunks:
        merged = proportion.merge(merged, proportion.add_many(proportion.initial(), chunk))
    assert merged == fold([x for chunk in chunks for x in chunk])


@given(st.lists(st.booleans(), max_size=30))
def test_add_many_and_json(outcomes: list[bool]) -> None:
    state = proportion.add_many(proportion.initial(), outcomes)
    assert state == fold(outcomes)
    assert Proportion.from_dict(json.loads(json.dumps(state.to_dict()))) == state
