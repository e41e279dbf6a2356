"""Training rows, one type per method, and conversions from user ratings.

The rows carry the user's text, not prompts: every runner formats them with
:mod:`tonebridge.handlers.methods.prompts`, so training and inference see one template.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import TypeVar

from tonebridge.errors import TrainingError


@dataclass(frozen=True, slots=True)
class RewriteExample:
    """SFT row: rewrite ``input_text`` into ``target_text`` (tone = ``transformation_type``)."""

    input_text: str
    target_text: str
    transformation_type: str


@dataclass(frozen=True, slots=True)
class PreferenceExample:
    """DPO row: for this input, ``chosen`` is a better rewrite than ``rejected``."""

    input_text: str
    transformation_type: str
    chosen: str
    rejected: str


@dataclass(frozen=True, slots=True)
class LabeledRewrite:
    """KTO row: one rewrite of the input, judged desirable or not."""

    input_text: str
    transformation_type: str
    output_text: str
    desirable: bool


@dataclass(frozen=True, slots=True)
class RatedRewrite:
    """RLHF row: one rewrite of the input with its user rating (1-5)."""

    input_text: str
    transformation_type: str
    output_text: str
    rating: float


Row = RewriteExample | PreferenceExample | LabeledRewrite | RatedRewrite
R = TypeVar("R", RewriteExample, PreferenceExample, LabeledRewrite, RatedRewrite)


def require_rows(data: Sequence[object], row_type: type[R], *, minimum: int = 1) -> list[R]:
    """``data`` as a list of ``row_type``; :class:`TrainingError` if empty, mistyped or blank."""
    if len(data) < minimum:
        msg = f"{row_type.__name__} dataset has {len(data)} rows; at least {minimum} needed"
        raise TrainingError(msg)
    rows: list[R] = []
    for index, row in enumerate(data):
        if not isinstance(row, row_type):
            msg = f"row {index} is {type(row).__name__}, expected {row_type.__name__}"
            raise TrainingError(msg)
        _require_text(row, index)
        rows.append(row)
    return rows


def _require_text(row: Row, index: int) -> None:
    for field in fields(row):
        value = getattr(row, field.name)
        if isinstance(value, str) and not value.strip():
            msg = f"row {index}: {field.name} is blank"
            raise TrainingError(msg)


def preferences_from_ratings(
    rated: Iterable[RatedRewrite], *, min_gap: float = 1.0, max_pairs_per_input: int = 8
) -> list[PreferenceExample]:
    """Pairs of rewrites of the same input whose ratings differ by ``min_gap`` or more."""
    pairs: list[PreferenceExample] = []
    for (input_text, tone), group in _group_by_input(rated).items():
        ranked = sorted(group, key=lambda row: row.rating, reverse=True)
        found = (
            PreferenceExample(input_text, tone, better.output_text, worse.output_text)
            for better, worse in itertools.combinations(ranked, 2)
            if better.rating - worse.rating >= min_gap
        )
        pairs.extend(itertools.islice(found, max_pairs_per_input))
    return pairs


def labels_from_ratings(
    rated: Iterable[RatedRewrite], *, threshold: float = 4.0
) -> list[LabeledRewrite]:
    """KTO rows: a rating at or above ``threshold`` is desirable."""
    return [
        LabeledRewrite(
            row.input_text, row.transformation_type, row.output_text, row.rating >= threshold
        )
        for row in rated
    ]


def _group_by_input(rated: Iterable[RatedRewrite]) -> dict[tuple[str, str], list[RatedRewrite]]:
    groups: dict[tuple[str, str], list[RatedRewrite]] = defaultdict(list)
    for row in rated:
        groups[(row.input_text, row.transformation_type)].append(row)
    return groups
