"""The database sink against a real PostgreSQL: a value the checks let through but the database
refuses is dead-lettered alone, with the database's reason, and the rest of its poll is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from tests.integration.agents.conftest import eventually
from tests.integration.api.helpers import add_model
from tests.support.agents import feedback
from tests.support.kafka import read_events
from tonebridge.agents.feedback_sink import FeedbackSink
from tonebridge.broker import EmbeddedBroker
from tonebridge.client.producer import EventProducer
from tonebridge.settings import load_settings
from tonebridge.storage.db import Database
from tonebridge.storage.feedback import FeedbackRepository
from tonebridge.storage.feedback_validation import validate_events
from tonebridge.storage.orm import FeedbackRow
from tonebridge.storage.records import FeedbackWriteResult
from tonebridge.topics.admin import create_topics
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class LooserWriter:
    """Writes the rows without the repository's checks, and one event's user_id grows past
    its column (255): a rule the checks miss, which only the database notices."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_many(self, events: Sequence[Mapping[str, Any]]) -> FeedbackWriteResult:
        candidates, rejected = validate_events(events)
        rows = [self._widened(c.values) for c in candidates]
        async with self._db.write() as session:
            await session.execute(insert(FeedbackRow), rows)
        return FeedbackWriteResult(len(rows), 0, tuple(rejected))

    @staticmethod
    def _widened(values: dict[str, Any]) -> dict[str, Any]:
        return {**values, "user_id": "u" * 300} if values["id"].endswith("-poison") else values


async def test_a_value_the_database_refuses_is_dead_lettered_alone(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, postgresql_url: str
) -> None:
    settings = load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_prefix=f"{unique}.",
        data_dir=tmp_path,
        database_url=postgresql_url,
    )
    await create_topics(settings)
    db = Database(postgresql_url)
    model = await add_model(db, f"sink-{unique}")
    records = [feedback(model.id, n=n) for n in range(30)]
    records[12] = {**records[12], "event_id": f"{unique}-poison"}
    async with EventProducer(settings) as producer:
        for record in records:
            await producer.send(FEEDBACK_TOPIC, record)

    sink = FeedbackSink(settings, LooserWriter(db), group_id=f"sink-{unique}")
    task = asyncio.create_task(sink.run())
    repository = FeedbackRepository(db)
    try:
        await eventually(lambda: sink.stored == 29, lambda: f"{sink.stored} stored")
        [letter] = await read_events(settings, DEADLETTER_TOPIC, at_least=1)
        assert not task.done(), "the sink stopped"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    counts = await repository.count_by_model(_all(model.id))
    await db.dispose()
    assert counts == {model.id: 29}
    reason = letter.event.record["reason"]
    assert "refused" in reason and "too long" in reason, reason


def _all(model_id: str) -> Any:
    from tonebridge.storage.records import FeedbackSelection

    return FeedbackSelection(model_id=model_id, corrections_only=False)


async def test_feedback_for_an_unknown_model_is_dead_lettered_naming_it(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, postgresql_url: str
) -> None:
    settings = load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_prefix=f"{unique}.",
        data_dir=tmp_path,
        database_url=postgresql_url,
    )
    await create_topics(settings)
    db = Database(postgresql_url)
    model = await add_model(db, f"sink-{unique}")
    ghost = f"ghost-{unique}"
    async with EventProducer(settings) as producer:
        for record in (feedback(model.id, n=0), feedback(ghost, n=1), feedback(model.id, n=2)):
            await producer.send(FEEDBACK_TOPIC, record)

    sink = FeedbackSink(settings, FeedbackRepository(db), group_id=f"sink-{unique}")
    task = asyncio.create_task(sink.run())
    try:
        await eventually(lambda: sink.stored == 2, lambda: f"{sink.stored} stored")
        [letter] = await read_events(settings, DEADLETTER_TOPIC, at_least=1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await db.dispose()
    assert letter.event.record["reason"].endswith(f"not stored: unknown model '{ghost}'")
