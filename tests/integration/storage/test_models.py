from __future__ import annotations

import pytest

from tonebridge.errors import IntegrityError, NotFoundError
from tonebridge.storage import Database, ModelRepository, TrainingJobRepository, base_model_id
from tonebridge.storage.records import ModelRecord

pytestmark = pytest.mark.integration


async def add_version(repo: ModelRepository, name: str, version: str) -> ModelRecord:
    return await repo.add(
        name=name,
        version=version,
        model_type="tone_adjustment",
        base_model="tiny-base",
        path=f"mlflow-artifacts:/{name}/{version}",
        metrics={"bleu": 31.5},
    )


async def test_base_model_row_is_made_once_in_production(database: Database, unique: str) -> None:
    repo = ModelRepository(database)
    name = f"tone-{unique}"
    first = await repo.ensure_base(name, "Qwen/Qwen2.5-0.5B", "tone_adjustment")
    again = await repo.ensure_base(name, "Qwen/Qwen2.5-0.5B", "tone_adjustment")
    assert first == again
    assert (first.id, first.version, first.status) == (base_model_id(name), "base", "production")
    assert first.path == "Qwen/Qwen2.5-0.5B"
    assert first.deployed_at is not None and first.deployed_at.tzinfo is not None
    assert await repo.get_production(name) == first


async def test_added_versions_are_drafts_and_replays_are_no_ops(
    database: Database, unique: str
) -> None:
    repo = ModelRepository(database)
    name = f"tone-{unique}"
    draft = await add_version(repo, name, "1")
    assert (draft.status, draft.metrics, draft.deployed_at) == ("draft", {"bleu": 31.5}, None)
    replayed = await repo.add(
        name=name, version="1", model_type="x", base_model="y", path="z", model_id=draft.id
    )
    assert replayed == draft
    with pytest.raises(IntegrityError, match=f"model '{name}' version '1' already exists"):
        await add_version(repo, name, "1")
    assert await repo.get(draft.id) == draft


async def test_add_links_its_training_job(database: Database, unique: str) -> None:
    repo = ModelRepository(database)
    with pytest.raises(IntegrityError, match="unknown training_job_id 'nope'"):
        await repo.add(
            name=f"tone-{unique}",
            version="1",
            model_type="t",
            base_model="b",
            path="p",
            training_job_id="nope",
        )
    job, _ = await TrainingJobRepository(database).create_from_command(
        command_id=f"cmd-{unique}", kind="sft", base_model="b"
    )
    model = await repo.add(
        name=f"tone-{unique}",
        version="1",
        model_type="t",
        base_model="b",
        path="p",
        training_job_id=job.id,
        mlflow_run_id="run-1",
        lineage={"feedback_count": 3},
    )
    assert (model.training_job_id, model.mlflow_run_id, model.lineage) == (
        job.id,
        "run-1",
        {"feedback_count": 3},
    )


async def test_promotion_archives_the_previous_production(database: Database, unique: str) -> None:
    repo = ModelRepository(database)
    name = f"tone-{unique}"
    base = await repo.ensure_base(name, "tiny-base")
    v1 = await add_version(repo, name, "1")
    promotion = await repo.promote(v1.id)
    assert promotion.model.status == "production" and promotion.model.deployed_at is not None
    assert promotion.replaced is not None
    assert (promotion.replaced.id, promotion.replaced.status) == (base.id, "archived")
    assert (await repo.get_production(name)) == promotion.model
    assert (await repo.previous_production(name)) == promotion.replaced
    again = await repo.promote(v1.id)
    assert again.replaced is None and again.model == promotion.model


async def test_rollback_target_is_the_version_deployed_before(
    database: Database, unique: str
) -> None:
    repo = ModelRepository(database)
    name = f"tone-{unique}"
    v1, v2 = await add_version(repo, name, "1"), await add_version(repo, name, "2")
    assert await repo.previous_production(name) is None
    await repo.set_status(v1.id, "production")
    await repo.set_status(v2.id, "production")
    previous = await repo.previous_production(name)
    assert previous is not None and previous.id == v1.id
    rolled_back = await repo.promote(v1.id)
    assert rolled_back.replaced is not None and rolled_back.replaced.id == v2.id
    assert [m.id for m in await repo.list(name=name, status="production")] == [v1.id]


async def test_status_changes_and_filters(database: Database, unique: str) -> None:
    repo = ModelRepository(database)
    name = f"tone-{unique}"
    v1 = await add_version(repo, name, "1")
    staged = await repo.set_status(v1.id, "staging")
    assert (staged.status, staged.deployed_at) == ("staging", None)
    await add_version(repo, name, "2")
    assert [m.version for m in await repo.list(name=name)] == ["2", "1"]
    assert [m.version for m in await repo.list(name=name, status="draft")] == ["2"]
    assert await repo.list(name=name, model_type="structure") == []
    with pytest.raises(NotFoundError, match="no model with id 'missing'"):
        await repo.set_status("missing", "archived")


async def test_next_version_counts_numeric_versions(database: Database, unique: str) -> None:
    repo = ModelRepository(database)
    name = f"tone-{unique}"
    assert await repo.next_version(name) == "1"
    await repo.ensure_base(name, "tiny-base")
    await add_version(repo, name, "1")
    await add_version(repo, name, "10")
    assert await repo.next_version(name) == "11"


async def test_names_are_searched_in_any_case_and_paged(database: Database, unique: str) -> None:
    repo = ModelRepository(database)
    for name in (f"Tone-{unique}-a", f"tone-{unique}-b", f"tone-{unique}_%c"):
        await add_version(repo, name, "1")
        await add_version(repo, name, "2")
    found = await repo.names(f"TONE-{unique}", limit=10)
    assert found == (f"Tone-{unique}-a", f"tone-{unique}-b", f"tone-{unique}_%c")
    assert await repo.names(f"{unique}_%", limit=10) == (f"tone-{unique}_%c",)  # literal % and _
    assert await repo.names(f"tone-{unique}", limit=1, offset=1) == (f"tone-{unique}-b",)
