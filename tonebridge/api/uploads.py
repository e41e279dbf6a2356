"""Uploaded files onto disk, bounded: a file over the limit is refused (413) as it is copied,
one of an unknown type (422 naming ``file``) before it is."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import BinaryIO

from fastapi import HTTPException, UploadFile

from tonebridge.api.jobs import field_error
from tonebridge.storage.records import DATASET_FORMATS

_CHUNK = 1024 * 1024


def file_type(upload: UploadFile) -> str:
    """The upload's type from its name's suffix: json, jsonl, csv or parquet."""
    suffix = Path(upload.filename or "").suffix.lower().lstrip(".")
    if suffix not in DATASET_FORMATS:
        message = (
            f"file {upload.filename!r} is not a dataset file: name it *.json, *.jsonl, "
            "*.csv or *.parquet"
        )
        field_error(("body", "file"), message, upload.filename)
    return suffix


async def save_upload(upload: UploadFile, path: Path, limit_bytes: int) -> int:
    """Copy ``upload`` to ``path``; 413 past ``limit_bytes`` (the part copied is removed)."""
    size = await asyncio.to_thread(_copy, upload.file, path, limit_bytes)
    if size > limit_bytes:
        message = (
            f"file is larger than the {limit_bytes} bytes a dataset upload may have "
            "(API_DATASET_MAX_UPLOAD_BYTES)"
        )
        raise HTTPException(413, message)
    return size


def _copy(source: BinaryIO, path: Path, limit_bytes: int) -> int:
    """Bytes copied; stops one chunk past the limit (the caller refuses the file)."""
    copied = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as target:
        while copied <= limit_bytes and (chunk := source.read(_CHUNK)):
            target.write(chunk)
            copied += len(chunk)
    if copied > limit_bytes:
        path.unlink()
    return copied


async def remove(path: Path) -> None:
    await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)


async def discard(path: Path) -> None:
    await asyncio.to_thread(path.unlink, missing_ok=True)
