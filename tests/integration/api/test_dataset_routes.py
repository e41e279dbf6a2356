"""``POST /datasets`` and ``GET /datasets`` on both databases: every file type, bad rows named
by row and field, the size limit, pages and filters, and training on an imported dataset."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.integration.api.helpers import (
    ADMIN,
    INGEST,
    api_settings_for,
    read_topic,
    running_client,
)
from tonebridge.broker import EmbeddedBroker
from tonebridge.settings import Settings
from tonebridge.storage import Database, DatasetRepository
from tonebridge.topics.admin import create_topics
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

pytestmark = pytest.mark.integration
ROWS = [
    {"input_text": f"hey, send report {i}", "output_text": f"send report {i}",
     "corrected_text": f"Could you send report {i}, please?", "rating": 4}
    for i in range(12)
]  # fmt: skip


def encoded(rows: list[dict[str, Any]], kind: str) -> bytes:
    """``rows`` as the bytes of a ``kind`` file."""
    frame = pd.DataFrame(rows)
    if kind == "json":
        return json.dumps(rows).encode()
    if kind == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows).encode()
    if kind == "csv":
        return frame.to_csv(index=False).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


async def upload(
    client: httpx.AsyncClient, filename: str, content: bytes, **form: str
) -> httpx.Response:
    files = {"file": (filename, content, "application/octet-stream")}
    return await client.post("/datasets", files=files, data=form, headers=ADMIN)


async def listed(client: httpx.AsyncClient, **params: str | int) -> dict[str, Any]:
    response = await client.get("/datasets", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv", "parquet"])
async def test_each_file_type_is_imported_and_listed(
    client: httpx.AsyncClient, database: Database, unique: str, kind: str
) -> None:
    name = f"ds-{unique}"
    response = await upload(client, f"feedback.{kind}", encoded(ROWS, kind), name=name)
    assert response.status_code == 201, response.text
    made = response.json()
    assert (made["name"], made["type"], made["row_format"]) == (name, "training", "sft")
    assert (made["file_format"], made["lineage"]["file"]) == ("jsonl", f"feedback.{kind}")
    validation = await DatasetRepository(database).get(made["validation_dataset_id"])
    assert made["num_samples"] + (validation.num_samples or 0) == len(ROWS)
    stored = await DatasetRepository(database).get(made["dataset_id"])
    lines = Path(stored.file_path).read_text().splitlines()
    assert len(lines) == made["num_samples"] and "target_text" in json.loads(lines[0])
    assert not list(Path(stored.file_path).parent.glob("upload.*"))  # the upload is not kept
    page = await listed(client, name=name)
    assert [item["dataset_id"] for item in page["items"]] == [made["dataset_id"]]


async def test_rows_of_the_format_itself_are_kept_as_they_are(
    client: httpx.AsyncClient, unique: str
) -> None:
    rows = [
        {"input_text": f"hi {i}", "transformation_type": "formal", "output_text": f"Hello {i}.",
         "desirable": "yes" if i % 2 else "no"}
        for i in range(6)
    ]  # fmt: skip
    response = await upload(client, "kto.csv", encoded(rows, "csv"), format="kto")
    assert response.status_code == 201, response.text
    assert (response.json()["row_format"], response.json()["name"]) == ("kto", "kto")


async def test_bad_rows_are_422_naming_each_row_and_field(
    client: httpx.AsyncClient, api_settings: Settings, unique: str
) -> None:
    rows = [dict(row) for row in ROWS[:4]]
    rows[1]["input_text"] = "nul \x00 inside"
    rows[2]["rating"] = 9
    rows[3]["transformation_type"] = "t" * 65
    response = await upload(client, "bad.jsonl", encoded(rows, "jsonl"), name=f"bad-{unique}")
    assert response.status_code == 422, response.text
    locations = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert locations == {
        ("body", "file", "rows", 2, "input_text"),
        ("body", "file", "rows", 3, "rating"),
        ("body", "file", "rows", 4, "transformation_type"),
    }
    assert "NUL" in response.json()["message"]
    assert (await listed(client, name=f"bad-{unique}"))["items"] == []
    assert not (api_settings.data_dir / "datasets").exists() or not any(
        (api_settings.data_dir / "datasets").iterdir()
    )


@pytest.mark.parametrize(
    ("filename", "content", "form", "expected"),
    [
        ("rows.txt", b"input_text\nhi\n", {}, "*.csv"),
        ("rows.parquet", b"not parquet at all", {}, "cannot be read as parquet"),
        ("rows.csv", b"foo,bar\n1,2\n", {}, "needs columns"),
        ("rows.csv", b"input_text,output_text\nhi,yo\n", {}, "no usable sft rows"),
        ("rows.csv", encoded(ROWS, "csv"), {"format": "xml"}, "format"),
        ("rows.csv", encoded(ROWS, "csv"), {"name": "n" * 201}, "body.name"),
        ("rows.csv", encoded(ROWS, "csv"), {"name": "a\x00b"}, "contains a NUL"),
    ],
)
async def test_unusable_files_and_fields_are_422_naming_the_field(
    client: httpx.AsyncClient, filename: str, content: bytes, form: dict[str, str], expected: str
) -> None:
    response = await upload(client, filename, content, **form)
    assert response.status_code == 422, response.text
    assert expected in response.json()["message"]


async def test_an_ingest_key_cannot_import(client: httpx.AsyncClient) -> None:
    files = {"file": ("rows.csv", encoded(ROWS, "csv"), "text/csv")}
    response = await client.post("/datasets", files=files, headers=INGEST)
    assert response.status_code == 403


@pytest.fixture
async def small_limit_client(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    settings = api_settings_for(broker, unique, tmp_path, api_dataset_max_upload_bytes=4096)
    await create_topics(settings)
    async with running_client(settings, database) as http:
        yield http


async def test_uploads_past_the_limit_are_413(
    small_limit_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    fits = encoded(ROWS, "csv")
    assert len(fits) < 4096
    assert (await upload(small_limit_client, "ok.csv", fits)).status_code == 201
    just_over = fits + b"x," * ((4096 - len(fits)) // 2 + 1)
    over = await upload(small_limit_client, "over.csv", just_over)
    assert over.status_code == 413
    assert "API_DATASET_MAX_UPLOAD_BYTES" in over.json()["detail"]
    far_over = await upload(small_limit_client, "big.csv", b"x" * (1024 * 1024))
    assert far_over.status_code == 413
    assert not list((tmp_path / "datasets").glob("*/upload.*"))


async def test_pages_are_newest_first_and_filters_narrow_them(
    client: httpx.AsyncClient, database: Database, unique: str
) -> None:
    repo = DatasetRepository(database)
    name = f"paged-{unique}"
    made = [
        await repo.add(name=name, type=kind, file_path=f"{n}.jsonl", format="jsonl")
        for n, kind in enumerate(["training", "validation", "training"])
    ]
    newest_first = [d.id for d in reversed(made)]
    pages = [await listed(client, name=name, limit=2, offset=offset) for offset in (0, 2)]
    assert [item["dataset_id"] for page in pages for item in page["items"]] == newest_first
    assert (pages[1]["limit"], pages[1]["offset"]) == (2, 2)
    training = await listed(client, name=name, type="training")
    assert [item["dataset_id"] for item in training["items"]] == [made[2].id, made[0].id]
    too_many = await client.get("/datasets", params={"limit": 501}, headers=ADMIN)
    assert too_many.status_code == 422 and "limit" in too_many.json()["message"]


async def test_a_job_can_train_on_an_imported_dataset_of_its_rows(
    client: httpx.AsyncClient, api_settings: Settings, unique: str
) -> None:
    made = (await upload(client, "rows.csv", encoded(ROWS, "csv"))).json()
    body = {"method": "dpo", "base_model": "local/tiny-llama", "dataset_id": made["dataset_id"]}
    refused = await client.post("/train", json=body, headers=ADMIN)
    assert refused.status_code == 422
    assert "body.dataset_id" in refused.json()["message"]
    assert "holds sft rows; a dpo job reads dpo rows" in refused.json()["message"]
    response = await client.post("/train", json=body | {"method": "sft"}, headers=ADMIN)
    assert response.status_code == 202, response.text
    [command] = await read_topic(api_settings, TRAINING_COMMANDS_TOPIC)
    assert command.record["dataset_id"] == made["dataset_id"]


async def test_a_retried_upload_with_its_idempotency_key_imports_once(
    client: httpx.AsyncClient, unique: str
) -> None:
    files = {"file": ("rows.csv", encoded(ROWS, "csv"), "text/csv")}
    sent = client.build_request("POST", "/datasets", files=files, data={"name": f"r-{unique}"})
    headers = {**ADMIN, "Idempotency-Key": f"k-{unique}", **sent.headers}
    first, again = [
        await client.post("/datasets", content=sent.read(), headers=headers) for _ in range(2)
    ]
    assert (first.status_code, again.status_code) == (201, 201), first.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["dataset_id"] == first.json()["dataset_id"]
    assert len((await listed(client, name=f"r-{unique}"))["items"]) == 1
