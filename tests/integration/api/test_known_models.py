"""The API's cache of registered model ids, on both databases."""

from __future__ import annotations

import pytest

from tests.integration.api.helpers import add_model
from tonebridge.api.known_models import KnownModels
from tonebridge.storage.db import Database
from tonebridge.storage.models import ModelRepository

pytestmark = pytest.mark.integration


async def test_known_ids_cost_no_query_and_misses_are_asked_again(
    database: Database, unique: str
) -> None:
    repo, known = ModelRepository(database), KnownModels(capacity=2)
    a, b, c = [await add_model(database, f"{n}-{unique}") for n in "abc"]
    assert await known.unknown(repo, [a.id, b.id, "ghost"]) == {"ghost"}
    assert known.lookups == 1
    assert await known.unknown(repo, [a.id, b.id]) == set()
    assert known.lookups == 1  # both remembered
    assert await known.unknown(repo, ["ghost"]) == {"ghost"}
    assert known.lookups == 2  # a miss is not remembered
    assert await known.unknown(repo, [c.id]) == set()  # evicts a, the least recently used
    assert await known.unknown(repo, [b.id]) == set()
    assert known.lookups == 3
    assert await known.unknown(repo, [a.id]) == set()
    assert known.lookups == 4
