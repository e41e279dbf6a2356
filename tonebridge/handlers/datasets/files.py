"""Built datasets on disk (jsonl) and in the ``datasets`` table, with their lineage.

A dataset built from feedback is two files, ``train.jsonl`` and ``validation.jsonl``, and two
``datasets`` rows (types ``training`` and ``validation``) whose lineage records the feedback
selection and its event-time range. A stored dataset (a command's ``dataset_id``) is read,
cleaned and split the same way, and keeps its own id and lineage.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tonebridge.errors import InvalidEventError
from tonebridge.handlers.datasets.checks import check_rows
from tonebridge.handlers.datasets.formats import (
    DatasetFormat,
    Example,
    FeedbackLike,
    Limits,
    Lineage,
    build_examples,
    examples_from_records,
    read_records,
    split,
    write_jsonl,
)
from tonebridge.storage import DatasetRepository, FeedbackRepository
from tonebridge.storage.records import DatasetRecord, DatasetType, FeedbackSelection

_MB = 1024 * 1024


def new_dataset_dir(data_dir: Path) -> Path:
    """A fresh folder for one imported dataset's files: ``DATA_DIR/datasets/<random>``."""
    return data_dir / "datasets" / uuid.uuid4().hex


@dataclass(frozen=True)
class BuiltDataset:
    """A dataset ready for a run: rows split in two, files written, rows stored."""

    format: DatasetFormat
    train: list[Example]
    validation: list[Example]
    train_path: Path
    validation_path: Path
    dataset_id: str
    lineage: Lineage
    replayed: int = 0  # older feedback events mixed in (continual training), not in lineage


def lineage_dict(lineage: Lineage) -> dict[str, Any]:
    """The JSON form kept in ``datasets.lineage`` and ``models.lineage``."""
    return {
        "feedback_from": lineage.feedback_from.isoformat() if lineage.feedback_from else None,
        "feedback_to": lineage.feedback_to.isoformat() if lineage.feedback_to else None,
        "feedback_count": lineage.feedback_count,
    }


def lineage_from_dict(stored: dict[str, Any]) -> Lineage:
    def when(key: str) -> datetime | None:
        value = stored.get(key)
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    count = stored.get("feedback_count")
    return Lineage(when("feedback_from"), when("feedback_to"), int(count or 0))


def selection_dict(selection: FeedbackSelection) -> dict[str, Any]:
    return {
        "model_id": selection.model_id,
        "transformation_type": selection.transformation_type,
        "since": selection.since.isoformat() if selection.since else None,
        "until": selection.until.isoformat() if selection.until else None,
        "corrections_only": selection.corrections_only,
    }


async def build_from_feedback(
    feedback: FeedbackRepository,
    datasets: DatasetRepository,
    *,
    fmt: DatasetFormat,
    selection: FeedbackSelection,
    out_dir: Path,
    name: str,
    limits: Limits | None = None,
    replay: Sequence[FeedbackLike] = (),
) -> BuiltDataset:
    """Select feedback, build ``fmt`` rows, split, write and store them.

    ``replay``: older feedback mixed in before the split (continual training); the lineage
    still describes the selection, and the rows record how many were replayed.
    """
    limits = limits or Limits()
    rows = [*await feedback.for_training(selection), *replay]
    summary = await feedback.lineage(selection)
    lineage = Lineage(summary.first_event_time, summary.last_event_time, summary.count)
    parts = split(build_examples(rows, fmt, limits), limits.validation_fraction)
    source = {"source": "feedback", "selection": selection_dict(selection), "replayed": len(replay)}
    built = await _store(
        datasets, fmt, parts.train, parts.validation, out_dir, name, lineage, source
    )
    return replace(built, replayed=len(replay))


async def import_file(
    datasets: DatasetRepository,
    path: Path,
    *,
    fmt: DatasetFormat,
    out_dir: Path,
    name: str,
    limits: Limits | None = None,
    source_name: str | None = None,
) -> BuiltDataset:
    """An uploaded json/jsonl/csv/parquet file, checked, cleaned, split and stored as jsonl.

    :class:`InvalidRowsError` lists rows that break the input rules; InvalidEventError says
    why a file cannot be read. ``source_name`` is the file's name in the lineage (an upload's
    original name; default: ``path``'s).
    """
    limits = limits or Limits()
    records = await asyncio.to_thread(_readable, path)
    check_rows(records, fmt)
    examples = examples_from_records(records, fmt, limits)
    if not examples:
        msg = f"the dataset file has no usable {fmt} rows ({len(records)} read, all dropped)"
        raise InvalidEventError(msg)
    parts = split(examples, limits.validation_fraction)
    source = {"source": "file", "file": source_name or path.name}
    return await _store(
        datasets, fmt, parts.train, parts.validation, out_dir, name, Lineage(), source
    )


async def load_stored(
    datasets: DatasetRepository,
    dataset_id: str,
    *,
    fmt: DatasetFormat,
    out_dir: Path,
    limits: Limits | None = None,
) -> BuiltDataset:
    """A stored dataset (any of its file formats), re-split for this run; no new rows."""
    limits = limits or Limits()
    record = await datasets.get(dataset_id)
    records = await asyncio.to_thread(_readable, Path(record.file_path))
    parts = split(examples_from_records(records, fmt, limits), limits.validation_fraction)
    train = await asyncio.to_thread(_write, out_dir / "train.jsonl", parts.train)
    held_out = await asyncio.to_thread(_write, out_dir / "validation.jsonl", parts.validation)
    lineage = lineage_from_dict(record.lineage)
    return BuiltDataset(
        fmt, parts.train, parts.validation, train.path, held_out.path, record.id, lineage
    )


@dataclass(frozen=True)
class _Written:
    path: Path
    size_mb: float
    rows: int


def _write(path: Path, examples: list[Example]) -> _Written:
    rows = write_jsonl(path, examples)
    return _Written(path.resolve(), path.stat().st_size / _MB, rows)


def _readable(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        msg = f"dataset file {path} is missing"
        raise InvalidEventError(msg)
    try:
        return read_records(path)
    except (ValueError, TypeError) as exc:  # pandas', pyarrow's and json's parse errors
        kind = path.suffix.lstrip(".").lower()
        msg = f"the dataset file cannot be read as {kind}: {str(exc)[:200]}"
        raise InvalidEventError(msg) from exc


async def _store(
    datasets: DatasetRepository,
    fmt: DatasetFormat,
    train: list[Example],
    validation: list[Example],
    out_dir: Path,
    name: str,
    lineage: Lineage,
    source: dict[str, Any],
) -> BuiltDataset:
    written = await asyncio.to_thread(_write, out_dir / "train.jsonl", train)
    held_out = await asyncio.to_thread(_write, out_dir / "validation.jsonl", validation)
    common = {**source, **lineage_dict(lineage), "format": fmt}
    held_row = await _add(datasets, f"{name}-validation", "validation", held_out, common)
    common["validation_dataset_id"] = held_row.id
    stored = await _add(datasets, name, "training", written, common)
    return BuiltDataset(fmt, train, validation, written.path, held_out.path, stored.id, lineage)


async def _add(
    datasets: DatasetRepository,
    name: str,
    kind: DatasetType,
    written: _Written,
    lineage: dict[str, Any],
) -> DatasetRecord:
    return await datasets.add(
        name=name,
        type=kind,
        file_path=str(written.path),
        format="jsonl",
        description=f"{lineage['format']} rows built by tonebridge",
        size_mb=written.size_mb,
        num_samples=written.rows,
        lineage=lineage,
    )
