"""The whole ingest path on PostgreSQL for the hostile-input suite: the HTTP API and a real
worker process on the embedded broker, sharing one database and one set of topics.

PostgreSQL refuses what SQLite takes (NUL in text, over-long varchars), so this suite runs on
PostgreSQL only; the worker-process tests of ``tests/integration/agents`` run on both.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from tests.conftest import postgres_database
from tests.integration.agents import conftest as agents
from tests.integration.agents.conftest import Streams, eventually
from tests.integration.api.helpers import ADMIN_KEY, INGEST, INGEST_KEY, add_model, running_client
from tests.support.kafka import Landed, read_events
from tonebridge.storage.db import Database
from tonebridge.topics.deadletter import DEADLETTER_TOPIC

streams = agents.streams  # the worker harness, on the database below


@pytest.fixture
def worker_database_url(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL only (overrides the agents' two-dialect fixture)."""
    with postgres_database() as url:
        yield url


@dataclass
class Stack:
    """The API client, the worker harness and the database of one test."""

    api: httpx.AsyncClient
    streams: Streams
    database: Database
    model_id: str

    def worker_alive(self) -> bool:
        return all(process.poll() is None for process in self.streams.workers)

    def counted(self, model_id: str | None = None) -> int:
        state = self.streams.feedback.get(model_id or self.model_id)
        return 0 if state is None else state.overall.all_time.count

    async def stored(self) -> Counter[str]:
        """Feedback rows per model id."""
        async with self.database.read() as session:
            rows = await session.execute(text("SELECT model_id, count(*) FROM feedback GROUP BY 1"))
            return Counter({str(model): int(n) for model, n in rows})

    async def dead_letters(self, at_least: int) -> list[dict[str, Any]]:
        letters: list[Landed] = await read_events(
            self.streams.settings, DEADLETTER_TOPIC, at_least=at_least, timeout_s=60
        )
        return [letter.event.record for letter in letters]

    async def settled(self, counted: int, stored: int) -> None:
        """Check that the statistics and the database hold exactly what is expected.

        A last event of a type of its own goes behind everything sent (same model, so same
        partition); once it is counted and stored, so is everything before it, and a count
        that went past the expected one cannot be mistaken for it on its way up.
        """
        sentinel = {**self.event(10**6), "transformation_type": "sentinel"}
        response = await self.api.post("/feedback", json=sentinel, headers=INGEST)
        assert response.status_code == 202, response.text
        await eventually(self._counted_sentinel, "the last event counted")
        assert self.counted() == counted + 1
        await eventually(self._stored_row(sentinel["event_id"]), "the last event stored")
        assert (await self.stored())[self.model_id] == stored + 1

    def _counted_sentinel(self) -> bool:
        state = self.streams.feedback.get(self.model_id)
        return state is not None and "sentinel" in state.by_type

    def _stored_row(self, event_id: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            async with self.database.read() as session:
                query = text("SELECT count(*) FROM feedback WHERE id = :id")
                return bool(await session.scalar(query, {"id": event_id}))

        return check

    def event(self, n: int) -> dict[str, Any]:
        """A good FeedbackEvent as a client sends it to the API."""
        return {
            "event_id": str(uuid.uuid4()),
            "event_time": now_iso(),
            "user_id": f"user-{n}",
            "model_id": self.model_id,
            "input_text": "send it asap",
            "output_text": "Could you send it when you have a moment?",
            "transformation_type": "formal",
            "rating": 4,
        }


@pytest.fixture
async def stack(streams: Streams) -> AsyncIterator[Stack]:
    settings = streams.settings.model_copy(
        update={
            "api_admin_keys": (SecretStr(ADMIN_KEY),),
            "api_ingest_keys": (SecretStr(INGEST_KEY),),
            "api_rate_limit_per_minute": 100_000,
        }
    )
    database = Database(settings.sqlalchemy_url)
    model = await add_model(database, "tone-hostile")
    streams.start_worker()
    try:
        async with running_client(settings, database) as http:
            yield Stack(http, streams, database, model.id)
        assert all(p.poll() is None for p in streams.workers), "a worker process exited"
    finally:
        await database.dispose()


def now_iso(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).isoformat()
