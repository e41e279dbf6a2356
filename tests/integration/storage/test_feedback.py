from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tonebridge.errors import IntegrityError, NotFoundError
from tonebridge.storage import Database, FeedbackRepository, ModelRepository
from tonebridge.storage.orm import FeedbackRow
from tonebridge.storage.records import FeedbackSelection

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event(model_id: str, n: int, unique: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"ev-{unique}-{n}",
        "event_time": T0 + timedelta(minutes=n),
        "user_id": "user-1",
        "session_id": None,
        "model_id": model_id,
        "input_text": "send it asap",
        "output_text": "Could you send it?",
        "corrected_text": "Could you send it when you have a moment?",
        "transformation_type": "polite",
        "rating": 4,
        "feedback_type": "both",
        "metadata": {"client": "web"},
    }
    return base | changes


async def new_model(database: Database, unique: str) -> str:
    return (await ModelRepository(database).ensure_base(f"tone-{unique}", "tiny-base")).id


async def test_batch_is_written_and_read_back_in_event_time_order(
    database: Database, unique: str
) -> None:
    model_id = await new_model(database, unique)
    repo = FeedbackRepository(database)
    result = await repo.add_many([event(model_id, n, unique) for n in (3, 1, 2)])
    assert (result.inserted, result.duplicates, result.rejected) == (3, 0, ())
    stored = await repo.for_training(FeedbackSelection(model_id=model_id))
    assert [r.event_id for r in stored] == [f"ev-{unique}-{n}" for n in (1, 2, 3)]
    first = stored[0]
    assert first.rating == 4 and first.metadata == {"client": "web"}
    assert first.corrected_text == "Could you send it when you have a moment?"


async def test_timestamps_come_back_aware_and_equal_to_the_event_time(
    database: Database, unique: str
) -> None:
    model_id = await new_model(database, unique)
    repo = FeedbackRepository(database)
    in_paris = datetime(2026, 3, 1, 14, 30, 15, 123000, tzinfo=timezone(timedelta(hours=2)))
    await repo.add_many([event(model_id, 0, unique, event_time=in_paris)])
    stored = await repo.get(f"ev-{unique}-0")
    assert stored.event_time.utcoffset() == timedelta(0)
    assert stored.event_time == in_paris
    lineage = await repo.lineage(FeedbackSelection(model_id=model_id))
    assert lineage.first_event_time == in_paris
    assert lineage.first_event_time is not None and lineage.first_event_time.tzinfo is not None


async def test_rating_out_of_range_is_rejected_and_good_events_still_land(
    database: Database, unique: str
) -> None:
    model_id = await new_model(database, unique)
    repo = FeedbackRepository(database)
    batch = [event(model_id, 1, unique), event(model_id, 2, unique, rating=7)]
    result = await repo.add_many(batch)
    assert result.inserted == 1
    assert len(result.rejected) == 1
    rejected = result.rejected[0]
    assert (rejected.index, rejected.event_id) == (1, f"ev-{unique}-2")
    assert rejected.reason == "rating 7 is outside 1..5"
    with pytest.raises(NotFoundError):
        await repo.get(f"ev-{unique}-2")
    assert (await repo.get(f"ev-{unique}-1")).rating == 4


async def test_unknown_model_id_is_rejected(database: Database, unique: str) -> None:
    model_id = await new_model(database, unique)
    repo = FeedbackRepository(database)
    result = await repo.add_many([event("no-such-model", 1, unique), event(model_id, 2, unique)])
    assert result.inserted == 1
    assert [(r.index, r.reason) for r in result.rejected] == [(0, "unknown model 'no-such-model'")]
    with pytest.raises(NotFoundError):
        await repo.get(f"ev-{unique}-1")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event_time": datetime(2026, 3, 1)}, "has no time zone"),  # noqa: DTZ001
        ({"user_id": None}, "missing user_id"),
        ({"event_id": "x" * 65}, "event_id is 65 characters long, more than 64"),
        ({"rating": None, "corrected_text": None}, "neither a rating nor a corrected_text"),
        ({"rating": "5"}, "rating '5' is not an integer"),
        ({"rating": True}, "rating True is not an integer"),
        ({"feedback_type": "thumbs"}, "feedback_type 'thumbs' is not one of"),
        ({"input_text": 3}, "input_text must be a string, not int"),
        ({"metadata": {"n": 1}}, "metadata.n must be a string, not int"),
    ],
)
async def test_malformed_events_are_rejected_with_a_reason(
    database: Database, unique: str, changes: dict[str, Any], reason: str
) -> None:
    model_id = await new_model(database, unique)
    result = await FeedbackRepository(database).add_many([event(model_id, 1, unique, **changes)])
    assert result.inserted == 0
    assert len(result.rejected) == 1 and reason in result.rejected[0].reason


async def test_replayed_event_id_is_a_no_op(database: Database, unique: str) -> None:
    model_id = await new_model(database, unique)
    repo = FeedbackRepository(database)
    first = await repo.add_many([event(model_id, 1, unique)])
    replay = await repo.add_many(
        [
            event(model_id, 1, unique, rating=1),
            event(model_id, 2, unique),
            event(model_id, 2, unique),
        ]
    )
    assert (first.inserted, first.duplicates) == (1, 0)
    assert (replay.inserted, replay.duplicates, replay.rejected) == (1, 2, ())
    assert (await repo.get(f"ev-{unique}-1")).rating == 4  # the first write wins
    assert await repo.count(FeedbackSelection(model_id=model_id)) == 2


async def test_selection_filters_type_window_and_corrections(
    database: Database, unique: str
) -> None:
    model_id = await new_model(database, unique)
    repo = FeedbackRepository(database)
    await repo.add_many(
        [
            event(model_id, 0, unique),
            event(model_id, 10, unique, transformation_type="formal"),
            event(model_id, 20, unique, corrected_text=None, feedback_type="rating"),
            event(model_id, 30, unique),
        ]
    )
    since, until = T0 + timedelta(minutes=10), T0 + timedelta(minutes=30)
    window = FeedbackSelection(model_id=model_id, since=since, until=until)
    assert [r.event_id for r in await repo.for_training(window)] == [f"ev-{unique}-10"]
    everything = FeedbackSelection(model_id=model_id, corrections_only=False)
    assert await repo.count(everything) == 4
    polite = FeedbackSelection(model_id=model_id, transformation_type="polite")
    assert await repo.count(polite) == 2
    assert await repo.count(FeedbackSelection(model_id=model_id, since=since)) == 2
    lineage = await repo.lineage(FeedbackSelection(model_id=model_id))
    assert (lineage.count, lineage.first_event_time, lineage.last_event_time) == (
        3,
        T0,
        T0 + timedelta(minutes=30),
    )
    assert await repo.count_by_model(FeedbackSelection(model_id=model_id)) == {model_id: 3}


async def test_empty_selection_has_empty_lineage(database: Database, unique: str) -> None:
    model_id = await new_model(database, unique)
    lineage = await FeedbackRepository(database).lineage(FeedbackSelection(model_id=model_id))
    assert (lineage.count, lineage.first_event_time, lineage.last_event_time) == (0, None, None)


async def test_naive_selection_bounds_are_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await FeedbackRepository(database).count(FeedbackSelection(since=datetime(2026, 1, 1)))  # noqa: DTZ001


async def test_database_refuses_a_corrupt_row_written_past_the_repository(
    database: Database, unique: str
) -> None:
    model_id = await new_model(database, unique)
    row = FeedbackRow(
        id=f"ev-{unique}-raw",
        user_id="u",
        model_id=model_id,
        input_text="a",
        output_text="b",
        transformation_type="polite",
        rating=7,
        feedback_type="rating",
        event_metadata={},
        created_at=T0,
    )
    with pytest.raises(IntegrityError, match="constraint violated"):
        async with database.write() as session:
            session.add(row)
    with pytest.raises(NotFoundError):
        await FeedbackRepository(database).get(f"ev-{unique}-raw")


async def test_a_large_batch_is_written_quickly(database: Database, unique: str) -> None:
    # 2500 rows pass SQLAlchemy's 1000-row insertmanyvalues page and, on SQLite, what one
    # statement could bind (32766 parameters) if it were sent as a single VALUES list.
    model_id = await new_model(database, unique)
    batch = [event(model_id, n, unique) for n in range(2500)]
    started = time.perf_counter()
    result = await FeedbackRepository(database).add_many(batch)
    elapsed = time.perf_counter() - started
    assert (result.inserted, result.rejected) == (2500, ())
    print(f"{database.dialect}: 2500 feedback events in {elapsed * 1000:.0f} ms")
    assert elapsed < 10.0


async def test_latest_corrections_are_the_newest_with_a_correction(
    database: Database, unique: str
) -> None:
    model_id = await new_model(database, unique)
    repo = FeedbackRepository(database)
    events = [event(model_id, n, unique) for n in range(4)]
    events.append(event(model_id, 9, unique, corrected_text=None, feedback_type="rating"))
    await repo.add_many(events)
    latest = await repo.latest_corrections(model_id, limit=2)
    assert [record.id for record in latest] == [f"ev-{unique}-3", f"ev-{unique}-2"]
    assert await repo.latest_corrections(f"none-{unique}") == []
