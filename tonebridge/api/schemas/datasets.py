"""Stored datasets: what an upload became, and pages of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tonebridge.handlers.datasets.formats import DatasetFormat as RowFormat  # sft, dpo, ...
from tonebridge.storage.records import DatasetFormat as FileFormat  # json, csv, ...
from tonebridge.storage.records import DatasetType as DatasetType  # the one definition

__all__ = ["DatasetOut", "DatasetPage", "DatasetType", "FileFormat", "RowFormat"]


class DatasetOut(BaseModel):
    dataset_id: str
    name: str
    type: DatasetType
    file_format: FileFormat = Field(description="How the rows are stored (jsonl once imported).")
    row_format: str | None = Field(
        description="The rows' shape: sft, dpo, kto or reward (which methods train on it)."
    )
    description: str | None
    num_samples: int | None
    size_mb: float | None
    validation_dataset_id: str | None = Field(
        description="The held-out part stored beside a training dataset."
    )
    lineage: dict[str, Any] = Field(description="Where the rows came from.")
    created_at: datetime


class DatasetPage(BaseModel):
    items: list[DatasetOut]
    limit: int
    offset: int
