"""The command line's own spellings of stored names stay those of the storage."""

from __future__ import annotations

from typing import get_args

from tonebridge.cli import DatasetType
from tonebridge.storage.records import DATASET_TYPES


def test_the_cli_names_the_stored_dataset_types() -> None:
    assert get_args(DatasetType) == DATASET_TYPES
