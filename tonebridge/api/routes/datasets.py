"""``POST /datasets`` (import a json, jsonl, csv or parquet file) and ``GET /datasets``.

An import checks every row against the input rules (a 422 names each bad row and field),
cleans and splits the rows as a training job would, and stores them as two jsonl datasets
under ``DATA_DIR/datasets/``: the training part, whose id ``POST /train`` takes as
``dataset_id``, and its held-out validation part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from tonebridge import rules
from tonebridge.api.deps import Admin, Filter, PageLimit, PageOffset, Responses, Services
from tonebridge.api.jobs import field_error
from tonebridge.api.routing import IdempotentRoute
from tonebridge.api.schemas.common import clean
from tonebridge.api.schemas.datasets import DatasetOut, DatasetPage, DatasetType, RowFormat
from tonebridge.api.services import ApiServices
from tonebridge.api.uploads import discard, file_type, remove, save_upload
from tonebridge.errors import InvalidEventError, InvalidRowsError
from tonebridge.handlers.datasets.files import BuiltDataset, import_file, new_dataset_dir
from tonebridge.storage.records import DatasetRecord

router = APIRouter(prefix="/datasets", tags=["datasets"], route_class=IdempotentRoute)
NAME_LENGTH = 200  # the validation part is stored as "<name>-validation" (String(255))
DatasetName = Annotated[
    str | None,
    Form(min_length=1, max_length=NAME_LENGTH, description="Default: the file's name."),
    AfterValidator(lambda value: value if value is None else clean(value)),
]
_UPLOAD_ERRORS: Responses = {
    413: {"description": "The file is larger than API_DATASET_MAX_UPLOAD_BYTES."},
    422: {"description": "A bad row (each one named with its field), or an unreadable file."},
}


@router.post("", status_code=201, responses=_UPLOAD_ERRORS, summary="Import a dataset file")
async def import_dataset(
    services: Services,
    _: Admin,
    file: Annotated[UploadFile, File(description="*.json, *.jsonl, *.csv or *.parquet")],
    row_format: Annotated[
        RowFormat,
        Form(
            alias="format",
            description="sft, dpo, kto or reward: rows of that shape, or feedback rows "
            "(input_text, output_text, corrected_text, rating) to build them from.",
        ),
    ] = "sft",
    name: DatasetName = None,
) -> DatasetOut:
    """Rows are counted from 1 (a CSV header is not a row) in the errors."""
    kind = file_type(file)
    folder = new_dataset_dir(services.settings.data_dir)
    upload = folder / f"upload.{kind}"
    try:
        await save_upload(file, upload, services.settings.api_dataset_max_upload_bytes)
        source = _filename(file, kind)
        built = await _import(services, upload, row_format, name or Path(source).stem, source)
    except BaseException:
        await remove(folder)
        raise
    await discard(upload)  # the rows are kept as jsonl; the upload itself is not
    return dataset_out(await services.repos.datasets.get(built.dataset_id))


@router.get("", summary="Stored datasets, newest first")
async def list_datasets(
    services: Services,
    _: Admin,
    type: DatasetType | None = None,
    name: Filter = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> DatasetPage:
    found = await services.repos.datasets.list(type=type, name=name, limit=limit, offset=offset)
    return DatasetPage(items=[dataset_out(d) for d in found], limit=limit, offset=offset)


async def _import(
    services: ApiServices, path: Path, fmt: RowFormat, name: str, filename: str
) -> BuiltDataset:
    repo = services.repos.datasets
    try:
        return await import_file(
            repo, path, fmt=fmt, out_dir=path.parent, name=name, source_name=filename
        )
    except InvalidRowsError as exc:
        raise RequestValidationError(_row_errors(exc)) from None
    except InvalidEventError as exc:
        field_error(("body", "file"), str(exc), filename)


def _row_errors(exc: InvalidRowsError) -> list[dict[str, object]]:
    return [
        {"type": "value_error", "loc": ("body", "file", "rows", row, field), "msg": message}
        for row, field, message in exc.problems
    ]


def _filename(upload: UploadFile, kind: str) -> str:
    """The upload's own name (no folders) if it is clean text, else ``upload.<kind>``."""
    name = Path(upload.filename or "").name[-NAME_LENGTH:]
    try:
        return rules.clean_text(name, "file name") if Path(name).stem else f"upload.{kind}"
    except InvalidEventError:
        return f"upload.{kind}"


def dataset_out(dataset: DatasetRecord) -> DatasetOut:
    lineage = dataset.lineage
    validation = lineage.get("validation_dataset_id")
    return DatasetOut(
        dataset_id=dataset.id,
        name=dataset.name,
        type=dataset.type,
        file_format=dataset.format,
        row_format=lineage.get("format") if isinstance(lineage.get("format"), str) else None,
        description=dataset.description,
        num_samples=dataset.num_samples,
        size_mb=dataset.size_mb,
        validation_dataset_id=validation if isinstance(validation, str) else None,
        lineage=lineage,
        created_at=dataset.created_at,
    )
