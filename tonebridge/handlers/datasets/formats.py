"""Training data from user feedback or imported files.

Feedback rows (input, model output, optional correction, optional 1-5 rating) become rows of
one of four formats, named like the runners' row types in
``tonebridge.handlers.methods.examples`` (the runners format prompts themselves; which
method trains on which format: ``tonebridge.handlers.methods.registry``):

* ``sft``    ``{input_text, transformation_type, target_text}``: the user's correction;
* ``dpo``    ``{input_text, transformation_type, chosen, rejected}``: correction over output;
* ``kto``    ``{input_text, transformation_type, output_text, desirable}``: rating >= 4
  desirable, <= 2 undesirable, 3 dropped;
* ``reward`` ``{input_text, transformation_type, output_text, rating}``: rated outputs
  (RLHF's reward model).

Rows are cleaned (empty and over-long dropped, duplicates removed, latest kept) and split
into train/validation by a hash of the normalised input, so one input never lands in both.
Everything here is pure; :mod:`tonebridge.handlers.datasets.files` writes files and rows.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from tonebridge.errors import InvalidEventError

DatasetFormat = Literal["sft", "dpo", "kto", "reward"]
Example = dict[str, Any]
FORMATS: tuple[DatasetFormat, ...] = ("sft", "dpo", "kto", "reward")
FIELDS: dict[DatasetFormat, tuple[str, ...]] = {
    "sft": ("input_text", "transformation_type", "target_text"),
    "dpo": ("input_text", "transformation_type", "chosen", "rejected"),
    "kto": ("input_text", "transformation_type", "output_text", "desirable"),
    "reward": ("input_text", "transformation_type", "output_text", "rating"),
}
_NOT_TEXT = frozenset({"desirable", "rating"})
DEFAULT_TONE = "professional"
_SPACES = re.compile(r"\s+")


class FeedbackLike(Protocol):
    """What a feedback row must offer (a storage record, or one read from a file)."""

    @property
    def input_text(self) -> str: ...
    @property
    def output_text(self) -> str: ...
    @property
    def corrected_text(self) -> str | None: ...
    @property
    def rating(self) -> int | None: ...
    @property
    def transformation_type(self) -> str: ...


@dataclass(frozen=True)
class FeedbackRow:
    """A feedback row read from an imported file."""

    input_text: str
    output_text: str
    corrected_text: str | None = None
    rating: int | None = None
    transformation_type: str = DEFAULT_TONE
    created_at: datetime | None = None


@dataclass(frozen=True)
class Lineage:
    """The feedback events a dataset was built from (event time, UTC)."""

    feedback_from: datetime | None = None
    feedback_to: datetime | None = None
    feedback_count: int = 0

    def tags(self) -> dict[str, str]:
        return {
            "feedback_from": self.feedback_from.isoformat() if self.feedback_from else "",
            "feedback_to": self.feedback_to.isoformat() if self.feedback_to else "",
            "feedback_count": str(self.feedback_count),
        }


@dataclass(frozen=True)
class Limits:
    """Cleaning rules: rows longer than ``max_chars`` (any field) are dropped."""

    max_chars: int = 2000
    validation_fraction: float = 0.1
    desirable_min_rating: int = 4
    undesirable_max_rating: int = 2


@dataclass(frozen=True)
class Split:
    train: list[Example]
    validation: list[Example]


def normalise(text: str) -> str:
    """The comparison form of a text: trimmed, spaces collapsed, case folded."""
    return _SPACES.sub(" ", text).strip().casefold()


def _clean(text: str | None) -> str:
    return _SPACES.sub(" ", text or "").strip()


def _base(row: FeedbackLike) -> Example:
    return {
        "input_text": _clean(row.input_text),
        "transformation_type": _clean(row.transformation_type) or DEFAULT_TONE,
    }


def sft_example(row: FeedbackLike, limits: Limits) -> Example | None:
    correction = _clean(row.corrected_text)
    return _base(row) | {"target_text": correction} if correction else None


def dpo_example(row: FeedbackLike, limits: Limits) -> Example | None:
    chosen, rejected = _clean(row.corrected_text), _clean(row.output_text)
    if not chosen or not rejected or normalise(chosen) == normalise(rejected):
        return None
    return _base(row) | {"chosen": chosen, "rejected": rejected}


def kto_example(row: FeedbackLike, limits: Limits) -> Example | None:
    rating = row.rating
    if rating is None or limits.undesirable_max_rating < rating < limits.desirable_min_rating:
        return None
    desirable = rating >= limits.desirable_min_rating
    return _base(row) | {"output_text": _clean(row.output_text), "desirable": desirable}


def reward_example(row: FeedbackLike, limits: Limits) -> Example | None:
    if row.rating is None:
        return None
    return _base(row) | {"output_text": _clean(row.output_text), "rating": float(row.rating)}


BUILDERS: dict[DatasetFormat, Callable[[FeedbackLike, Limits], Example | None]] = {
    "sft": sft_example,
    "dpo": dpo_example,
    "kto": kto_example,
    "reward": reward_example,
}


def _too_long(example: Example, limits: Limits) -> bool:
    return any(isinstance(v, str) and len(v) > limits.max_chars for v in example.values())


def _input_key(example: Example) -> str:
    return normalise(str(example["input_text"]))


def _complete(example: Example, fmt: DatasetFormat) -> bool:
    return all(
        example.get(f) is not None and (f in _NOT_TEXT or _clean(str(example[f])))
        for f in FIELDS[fmt]
    )


def dedupe(examples: Iterable[Example], fmt: DatasetFormat) -> list[Example]:
    """Drop repeats of the same content; the latest occurrence wins, first order kept."""
    text_fields = [f for f in FIELDS[fmt] if f not in _NOT_TEXT]
    latest: dict[tuple[str, ...], Example] = {}
    for example in examples:
        key = tuple(normalise(str(example[f])) for f in text_fields)
        latest[key] = example
    return list(latest.values())


def clean(examples: Iterable[Example | None], fmt: DatasetFormat, limits: Limits) -> list[Example]:
    """Drop missing, empty and over-long examples, then duplicates."""
    kept = [
        e
        for e in examples
        if e is not None
        and all(_clean(str(e[f])) for f in FIELDS[fmt])
        and not _too_long(e, limits)
    ]
    return dedupe(kept, fmt)


def build_examples(
    rows: Iterable[FeedbackLike], fmt: DatasetFormat, limits: Limits | None = None
) -> list[Example]:
    """Feedback rows -> clean, deduplicated examples of format ``fmt``."""
    limits = limits or Limits()
    builder = BUILDERS[fmt]
    return clean((builder(row, limits) for row in rows), fmt, limits)


def input_bucket(input_text: str) -> float:
    """A stable number in [0, 1) for an input: sha256 of its normalised form."""
    digest = hashlib.sha256(normalise(input_text).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split(examples: Sequence[Example], validation_fraction: float = 0.1) -> Split:
    """Split by input hash; with two or more distinct inputs, validation is never empty."""
    buckets = {key: input_bucket(key) for key in {_input_key(e) for e in examples}}
    held_out = {key for key, bucket in buckets.items() if bucket < validation_fraction}
    if not held_out and len(buckets) > 1 and validation_fraction > 0:
        held_out = {min(buckets, key=buckets.__getitem__)}
    train = [e for e in examples if _input_key(e) not in held_out]
    validation = [e for e in examples if _input_key(e) in held_out]
    return Split(train, validation)


# --- imported files ---------------------------------------------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a json, jsonl, csv or parquet file as dicts (missing values as None)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".json":
        loaded = json.loads(path.read_text())
        rows = loaded.get("data", loaded) if isinstance(loaded, dict) else loaded
        frame = pd.DataFrame(rows)
    elif suffix == ".jsonl":
        frame = pd.read_json(path, lines=True, dtype=False)
    elif suffix == ".csv":
        frame = pd.read_csv(path, dtype=object, keep_default_na=False, na_values=[""])
    elif suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        msg = f"unsupported dataset file type {suffix!r}: use json, jsonl, csv or parquet"
        raise InvalidEventError(msg)
    frame = frame.astype(object).where(frame.notna(), None)
    records: list[dict[str, Any]] = frame.to_dict(orient="records")
    return records


def _rating(value: object) -> int | None:
    if value is None or value == "":
        return None
    return int(float(str(value)))


def feedback_from_record(record: Mapping[str, Any]) -> FeedbackRow:
    """One imported feedback-shaped record (``input_text``, ``output_text``, ...)."""
    return FeedbackRow(
        input_text=str(record.get("input_text") or ""),
        output_text=str(record.get("output_text") or ""),
        corrected_text=record.get("corrected_text") or None,
        rating=_rating(record.get("rating")),
        transformation_type=str(record.get("transformation_type") or DEFAULT_TONE),
    )


def _coerce(example: Example) -> Example:
    """Ready rows from csv arrive as strings: typed fields back to bool/float."""
    if "desirable" in example and isinstance(example["desirable"], str):
        example["desirable"] = example["desirable"].strip().lower() in ("true", "1", "yes")
    if example.get("rating") is not None:
        example["rating"] = float(example["rating"])
    return example


def examples_from_records(
    records: Sequence[Mapping[str, Any]], fmt: DatasetFormat, limits: Limits | None = None
) -> list[Example]:
    """Imported rows -> examples: rows of format ``fmt`` are kept, feedback rows built."""
    limits = limits or Limits()
    if not records:
        return []
    if set(FIELDS[fmt]) <= records[0].keys():
        ready = (_coerce({f: r[f] for f in FIELDS[fmt]}) for r in records)
        return clean(ready, fmt, limits)
    if {"input_text", "output_text"} <= records[0].keys():
        return build_examples((feedback_from_record(r) for r in records), fmt, limits)
    msg = (
        f"a {fmt} dataset file needs columns {list(FIELDS[fmt])}, or feedback columns "
        "input_text, output_text, corrected_text, rating"
    )
    raise InvalidEventError(msg)


def write_jsonl(path: Path, examples: Iterable[Example]) -> int:
    """Write one JSON object per line; returns the number written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> list[Example]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
