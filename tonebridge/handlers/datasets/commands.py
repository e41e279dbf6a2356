"""What ``tonebridge datasets import`` and ``tonebridge datasets list`` run: the same import
as ``POST /datasets`` (checked rows, cleaned, split, stored under ``DATA_DIR/datasets/``),
straight on the database named by the settings."""

from __future__ import annotations

import shutil
from pathlib import Path

from tonebridge.handlers.datasets.files import BuiltDataset, import_file, new_dataset_dir
from tonebridge.handlers.datasets.formats import DatasetFormat
from tonebridge.settings import Settings
from tonebridge.storage import DatasetRepository
from tonebridge.storage.db import Database
from tonebridge.storage.records import DatasetRecord, DatasetType


async def import_dataset(
    settings: Settings, path: Path, fmt: DatasetFormat, name: str | None
) -> BuiltDataset:
    """Import ``path`` as a ``fmt`` dataset; nothing is kept if a row is bad."""
    folder = new_dataset_dir(settings.data_dir)
    database = Database(settings.sqlalchemy_url)
    try:
        repo = DatasetRepository(database)
        return await import_file(repo, path, fmt=fmt, out_dir=folder, name=name or path.stem)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        await database.dispose()


async def list_datasets(
    settings: Settings, *, type: DatasetType | None, name: str | None, limit: int, offset: int
) -> list[DatasetRecord]:
    database = Database(settings.sqlalchemy_url)
    try:
        repo = DatasetRepository(database)
        return await repo.list(type=type, name=name, limit=limit, offset=offset)
    finally:
        await database.dispose()


def describe(dataset: DatasetRecord) -> str:
    """One line: id, type, row format, rows, creation time, name."""
    row_format = dataset.lineage.get("format") or "-"
    when = dataset.created_at.isoformat(timespec="seconds")
    rows = dataset.num_samples if dataset.num_samples is not None else "-"
    return f"{dataset.id}  {dataset.type:<10}  {row_format:<6}  {rows:>7}  {when}  {dataset.name}"
