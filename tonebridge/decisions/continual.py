"""Continual training: where a retraining starts, and which older feedback it replays (pure).

A job that improves a trained model continues from that model's LoRA adapter unless asked to
start from the base (``start_from="base"``): training from the base each time forgets what
the earlier rounds learned. It also replays a share of the feedback older than its window,
so corrections the earlier rounds trained on stay in the mix.

The replayed sample is deterministic: each item is ranked by a hash of the seed and its
key, so the same feedback and seed give the same sample, whatever order it was read in.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar, get_args

StartFrom = Literal["parent", "base"]
START_FROM: tuple[str, ...] = get_args(StartFrom)
DEFAULT_START_FROM: StartFrom = "parent"
T = TypeVar("T")


def start_from(value: object) -> StartFrom:
    """A job's ``start_from`` option (``None``: the default); ValueError for anything else."""
    if value is None:
        return DEFAULT_START_FROM
    if value == "parent":
        return "parent"
    if value == "base":
        return "base"
    msg = f"start_from must be one of {', '.join(START_FROM)}, not {value!r}"
    raise ValueError(msg)


def continued_adapter(
    choice: StartFrom, parent_adapter: str | None, parent_base: str | None, base_model: str
) -> str | None:
    """The adapter a job continues training, or None for a fresh adapter on the base.

    Only a parent with an adapter on the same base can be continued: a base model has no
    adapter, and an adapter does not fit another base's weights.
    """
    if choice == "base" or parent_adapter is None:
        return None
    return parent_adapter if parent_base == base_model else None


def replay_fraction(value: object) -> float:
    """A share of older feedback, 0 (none) to 1 (all); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"replay_fraction must be a number, not {value!r}"
        raise ValueError(msg)
    if not 0.0 <= float(value) <= 1.0:
        msg = f"replay_fraction must be between 0 and 1, not {value}"
        raise ValueError(msg)
    return float(value)


def replay_count(available: int, fraction: float) -> int:
    """How many of ``available`` older items a share of ``fraction`` replays (rounded half up)."""
    return min(available, math.floor(available * fraction + 0.5))


def replay_sample(
    items: Sequence[T], fraction: float, seed: int, key: Callable[[T], str]
) -> list[T]:
    """A deterministic ``fraction`` of ``items``, in their given order.

    Items are ranked by ``sha256(seed:key)``: the sample depends on the items and the seed,
    not on the order they come in, and a larger fraction keeps every item a smaller one had.
    """
    count = replay_count(len(items), fraction)
    ranked = sorted(range(len(items)), key=lambda i: _rank(seed, key(items[i])))
    chosen = set(ranked[:count])
    return [item for index, item in enumerate(items) if index in chosen]


def _rank(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{seed}:{key}".encode()).digest()
