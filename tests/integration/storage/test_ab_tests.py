from __future__ import annotations

import pytest

from tonebridge.errors import ConflictError, IntegrityError
from tonebridge.storage import ABTestRepository, Database, ModelRepository

pytestmark = pytest.mark.integration


async def two_models(database: Database, unique: str) -> tuple[str, str]:
    repo = ModelRepository(database)
    base = await repo.ensure_base(f"tone-{unique}", "tiny-base")
    candidate = await repo.add(
        name=f"tone-{unique}", version="1", model_type="t", base_model="tiny-base", path="p"
    )
    return base.id, candidate.id


async def test_create_is_idempotent_on_the_test_id(database: Database, unique: str) -> None:
    a, b = await two_models(database, unique)
    repo = ABTestRepository(database)
    metrics = [{"name": "success", "kind": "binary", "guardrail": False}]
    test, created = await repo.create(
        name="polite v1",
        model_a_id=a,
        model_b_id=b,
        success_metrics=metrics,
        config={"alpha": 0.05},
        test_id=f"ab-{unique}",
    )
    again, created_again = await repo.create(
        name="other", model_a_id=a, model_b_id=b, test_id=f"ab-{unique}"
    )
    assert (created, created_again) == (True, False)
    assert again == test
    assert (test.status, test.traffic_split, test.success_metrics) == (
        "active",
        {"a": 0.5, "b": 0.5},
        metrics,
    )
    assert [arm["model_id"] for arm in test.arms] == [a, b]
    assert test.created_at.tzinfo is not None
    assert test.id in [t.id for t in await repo.list(status="active", limit=1000)]


async def test_arms_must_be_known_models(database: Database, unique: str) -> None:
    a, _ = await two_models(database, unique)
    with pytest.raises(IntegrityError, match=r"unknown model id\(s\) \['ghost'\]"):
        await ABTestRepository(database).create(name="x", model_a_id=a, model_b_id="ghost")


async def test_pause_resume_and_complete(database: Database, unique: str) -> None:
    a, b = await two_models(database, unique)
    repo = ABTestRepository(database)
    test, _ = await repo.create(name="x", model_a_id=a, model_b_id=b)
    assert (await repo.set_status(test.id, "paused")).status == "paused"
    assert (await repo.set_status(test.id, "active")).status == "active"
    done = await repo.complete(test.id, winner=b, results={"p_value": 0.01})
    assert (done.status, done.winner, done.results) == ("completed", b, {"p_value": 0.01})
    assert done.completed_at is not None and done.completed_at.tzinfo is not None
    assert await repo.complete(test.id, winner=b, results={"p_value": 0.5}) == done
    with pytest.raises(ConflictError, match="is completed"):
        await repo.complete(test.id, winner=a, results={})
    with pytest.raises(ConflictError, match="is completed"):
        await repo.set_status(test.id, "active")


async def test_winner_must_be_one_of_its_models(database: Database, unique: str) -> None:
    a, b = await two_models(database, unique)
    repo = ABTestRepository(database)
    test, _ = await repo.create(name="x", model_a_id=a, model_b_id=b)
    with pytest.raises(IntegrityError, match="winner 'ghost' is not a model"):
        await repo.complete(test.id, winner="ghost", results={})
    assert (await repo.set_status(test.id, "completed")).winner is None


async def test_search_finds_tests_by_name_or_id(database: Database, unique: str) -> None:
    a, b = await two_models(database, unique)
    repo = ABTestRepository(database)
    await repo.create(name=f"Polite-{unique}", model_a_id=a, model_b_id=b, test_id=f"x-{unique}")
    await repo.create(name="other", model_a_id=a, model_b_id=b, test_id=f"ab-{unique}")
    assert [t.id for t in await repo.list(search=f"polite-{unique}")] == [f"x-{unique}"]
    found = {t.id for t in await repo.list(search=unique)}
    assert found == {f"x-{unique}", f"ab-{unique}"}
