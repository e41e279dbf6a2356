"""A verdict stored through the worker's database adapter, on PostgreSQL and SQLite: what the
database refuses is a dead letter, NaN and infinities are stored as null."""

from __future__ import annotations

from typing import Any

from tests.support.agents import T0, MemoryOutbox
from tonebridge.agents.verdict_store import store_verdict
from tonebridge.agents.worker import DatabaseVerdicts
from tonebridge.storage import ABTestRepository, Database, ModelRepository
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.messages import Origin

ORIGIN = Origin("outcomes", 0, 7, None)


async def a_test(database: Database, unique: str) -> str:
    models = ModelRepository(database)
    base = await models.ensure_base(f"tone-{unique}", "tiny-base")
    new = await models.add(
        name=f"tone-{unique}", version="1", model_type="t", base_model="tiny-base", path="p"
    )
    test_id = f"ab-{unique}"
    await ABTestRepository(database).create(
        name=test_id, model_a_id=base.id, model_b_id=new.id, test_id=test_id
    )
    return test_id


def stopped(test_id: str) -> dict[str, Any]:
    return {"event_id": f"v-{test_id}", "event_time": T0, "test_id": test_id,
            "decision": "stopped", "reason": "by hand"}  # fmt: skip


async def test_non_finite_results_are_stored_as_null(database: Database, unique: str) -> None:
    test_id, outbox = await a_test(database, unique), MemoryOutbox()
    results = {"decision": "stopped", "p": float("nan"), "effect": [float("-inf"), 0.5]}
    await store_verdict(DatabaseVerdicts(ABTestRepository(database)), outbox, ORIGIN,
                        stopped(test_id), results)  # fmt: skip
    stored = await ABTestRepository(database).get(test_id)
    assert stored.status == "completed" and outbox.sent == []
    assert stored.results == {"decision": "stopped", "p": None, "effect": [None, 0.5]}


async def test_a_verdict_the_database_refuses_is_a_dead_letter(
    database: Database, unique: str
) -> None:
    test_id, outbox = await a_test(database, unique), MemoryOutbox()
    results = {"decision": "stopped", "note": "a\x00b"}  # PostgreSQL's JSON has no NUL
    await store_verdict(DatabaseVerdicts(ABTestRepository(database)), outbox, ORIGIN,
                        stopped(test_id), results)  # fmt: skip
    stored = await ABTestRepository(database).get(test_id)
    letters = outbox.on(DEADLETTER_TOPIC)
    if database.dialect == "postgresql":
        [letter] = letters
        assert letter["reason"].startswith(f"A/B test {test_id}: the verdict store refused")
        assert stored.status == "active"
    else:  # SQLite keeps the NUL
        assert letters == [] and stored.status == "completed"
