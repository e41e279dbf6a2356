from __future__ import annotations

import pytest

from tonebridge.errors import IntegrityError, NotFoundError
from tonebridge.storage import Database, DatasetRepository

pytestmark = pytest.mark.integration


async def test_dataset_is_stored_with_its_lineage(database: Database, unique: str) -> None:
    repo = DatasetRepository(database)
    lineage = {"feedback_from": "2026-03-01T12:00:00+00:00", "feedback_count": 42}
    added = await repo.add(
        name=f"ds-{unique}",
        type="feedback",
        file_path="s3://bucket/ds.jsonl",
        format="jsonl",
        description="corrections since March",
        size_mb=1.5,
        num_samples=42,
        lineage=lineage,
    )
    assert await repo.get(added.id) == added
    assert (added.lineage, added.num_samples, added.size_mb) == (lineage, 42, 1.5)
    assert added.created_at.tzinfo is not None
    assert added.id in [d.id for d in await repo.list(type="feedback", limit=1000)]
    assert added.id not in [d.id for d in await repo.list(type="test", limit=1000)]


async def test_adding_the_same_id_twice_is_a_no_op(database: Database, unique: str) -> None:
    repo = DatasetRepository(database)
    first = await repo.add(
        name="a", type="training", file_path="a.json", format="json", dataset_id=f"ds-{unique}"
    )
    again = await repo.add(
        name="b", type="training", file_path="b.json", format="json", dataset_id=f"ds-{unique}"
    )
    assert again == first


async def test_unknown_format_is_refused_by_the_database(database: Database, unique: str) -> None:
    repo = DatasetRepository(database)
    with pytest.raises(IntegrityError, match="constraint violated"):
        await repo.add(
            name="x",
            type="training",
            file_path="x",
            format="xml",  # type: ignore[arg-type]
            dataset_id=f"ds-{unique}",
        )
    with pytest.raises(NotFoundError, match=f"no dataset with id 'ds-{unique}'"):
        await repo.get(f"ds-{unique}")
