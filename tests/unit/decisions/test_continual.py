from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tonebridge.decisions.continual import (
    continued_adapter,
    replay_count,
    replay_fraction,
    replay_sample,
    start_from,
)


def test_start_from_defaults_to_the_parent_and_refuses_other_values() -> None:
    assert start_from(None) == "parent"
    assert start_from("base") == "base"
    with pytest.raises(ValueError, match="parent, base"):
        start_from("scratch")


def test_a_parent_adapter_on_the_same_base_is_continued() -> None:
    assert continued_adapter("parent", "runs:/r/adapter", "tiny", "tiny") == "runs:/r/adapter"


@pytest.mark.parametrize(
    ("choice", "adapter", "parent_base"),
    [
        ("base", "runs:/r/adapter", "tiny"),  # asked for a fresh adapter
        ("parent", None, "tiny"),  # the parent is a base model: nothing to continue
        ("parent", "runs:/r/adapter", "other"),  # the adapter does not fit this base
    ],
)
def test_otherwise_a_job_starts_a_fresh_adapter(
    choice: str, adapter: str | None, parent_base: str
) -> None:
    assert continued_adapter(start_from(choice), adapter, parent_base, "tiny") is None


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.3", True, None])
def test_replay_fraction_is_a_share(bad: object) -> None:
    with pytest.raises(ValueError, match="replay_fraction"):
        replay_fraction(bad)
    assert replay_fraction(0) == 0.0
    assert replay_fraction(0.3) == 0.3


def test_replay_count_rounds_half_up_within_what_is_there() -> None:
    assert [replay_count(n, 0.3) for n in (0, 1, 2, 5, 10)] == [0, 0, 1, 2, 3]
    assert replay_count(7, 1.0) == 7
    assert replay_count(7, 0.0) == 0


def test_the_sample_keeps_the_given_order_and_size() -> None:
    items = [f"event-{i}" for i in range(100)]
    sample = replay_sample(items, 0.3, seed=1, key=str)
    assert len(sample) == 30
    assert sample == sorted(sample, key=items.index)
    assert replay_sample(items, 0.3, seed=2, key=str) != sample  # the seed matters


@given(
    keys=st.lists(st.text(min_size=1, max_size=8), unique=True, max_size=40),
    fraction=st.floats(0, 1),
    seed=st.integers(0, 2**31),
    shuffle_seed=st.integers(0, 100),
)
def test_the_sample_does_not_depend_on_the_order_read(
    keys: list[str], fraction: float, seed: int, shuffle_seed: int
) -> None:
    shuffled = list(keys)
    random.Random(shuffle_seed).shuffle(shuffled)
    first = replay_sample(keys, fraction, seed, key=str)
    second = replay_sample(shuffled, fraction, seed, key=str)
    assert set(first) == set(second)
    assert len(first) == replay_count(len(keys), fraction)


@given(keys=st.lists(st.text(min_size=1), unique=True, max_size=40), seed=st.integers(0, 99))
def test_a_larger_share_keeps_what_a_smaller_one_replayed(keys: list[str], seed: int) -> None:
    small = set(replay_sample(keys, 0.2, seed, key=str))
    assert small <= set(replay_sample(keys, 0.6, seed, key=str))
