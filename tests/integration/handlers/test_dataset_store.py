"""Datasets built from stored feedback and from imported files, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tonebridge.handlers.datasets.files import build_from_feedback, import_file, load_stored
from tonebridge.handlers.datasets.formats import normalise, read_jsonl
from tonebridge.storage import Database, DatasetRepository, FeedbackRepository, ModelRepository
from tonebridge.storage.records import FeedbackSelection

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event(model_id: str, n: int, unique: str, **changes: Any) -> dict[str, Any]:
    return {
        "event_id": f"ev-{unique}-{n}",
        "event_time": T0 + timedelta(minutes=n),
        "user_id": "u",
        "model_id": model_id,
        "input_text": f"send report {n % 12} asap",
        "output_text": f"send the report {n % 12}",
        "corrected_text": f"Could you send report {n % 12} when you can?",
        "transformation_type": "polite",
        "rating": 2,
        "feedback_type": "both",
        "metadata": {},
    } | changes


async def test_feedback_becomes_split_files_and_rows_with_lineage(
    database: Database, unique: str, tmp_path: Path
) -> None:
    model_id = (await ModelRepository(database).ensure_base(f"tone-{unique}", "tiny")).id
    events = [event(model_id, n, unique) for n in range(30)]
    events.append(event(model_id, 99, unique, corrected_text=None, feedback_type="rating"))
    await FeedbackRepository(database).add_many(events)
    datasets = DatasetRepository(database)
    selection = FeedbackSelection(model_id=model_id, since=T0 + timedelta(minutes=1))
    built = await build_from_feedback(
        FeedbackRepository(database),
        datasets,
        fmt="dpo",
        selection=selection,
        out_dir=tmp_path,
        name=f"ds-{unique}",
    )
    # 29 corrected events since minute 1, over 12 distinct inputs: duplicates collapse.
    assert built.lineage.feedback_count == 29
    assert built.lineage.feedback_from == T0 + timedelta(minutes=1)
    assert built.lineage.feedback_to == T0 + timedelta(minutes=29)
    assert len(built.train) + len(built.validation) == 12
    assert built.validation
    held = {normalise(e["input_text"]) for e in built.validation}
    assert not held & {normalise(e["input_text"]) for e in built.train}
    assert read_jsonl(built.train_path) == built.train
    stored = await datasets.get(built.dataset_id)
    assert (stored.format, stored.type, stored.num_samples) == (
        "jsonl",
        "training",
        len(built.train),
    )
    assert stored.size_mb is not None and stored.size_mb > 0
    assert stored.lineage["feedback_count"] == 29
    assert stored.lineage["selection"]["model_id"] == model_id
    validation = await datasets.get(stored.lineage["validation_dataset_id"])
    assert (validation.type, validation.num_samples) == ("validation", len(built.validation))


async def test_an_imported_file_is_stored_and_reloads_the_same(
    database: Database, unique: str, tmp_path: Path
) -> None:
    rows = [
        {"input_text": f"hey {i}", "output_text": f"yo {i}", "corrected_text": f"Hello {i}."}
        for i in range(20)
    ]
    source = tmp_path / "upload.parquet"
    pd.DataFrame(rows).to_parquet(source)
    datasets = DatasetRepository(database)
    built = await import_file(
        datasets, source, fmt="sft", out_dir=tmp_path / "built", name=f"up-{unique}"
    )
    assert len(built.train) + len(built.validation) == 20
    again = await load_stored(datasets, built.dataset_id, fmt="sft", out_dir=tmp_path / "again")
    assert again.dataset_id == built.dataset_id
    # Only the training rows were stored under that id; re-splitting them keeps them apart.
    assert sorted(map(str, again.train + again.validation)) == sorted(map(str, built.train))
