"""Deduplication on event_id: first occurrences only, durable segments, bounded memory."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from tonebridge.agents.runtime import dedup
from tonebridge.agents.runtime.dedup import Bounds, SeenBatch, SeenIds
from tonebridge.agents.runtime.segments import SEGMENT_MAX_IDS, Segment, id_hash, id_hashes
from tonebridge.topics.messages import Item, Origin

TOPIC = "t.feedback.v1"
SOURCE = f"{TOPIC}:2"
HOUR_MS = 3_600_000


class Store:
    """Segments as a table holds them: written by plans, read back by a new index."""

    def __init__(self) -> None:
        self.segments: dict[tuple[str, dedup.Ident], Segment] = {}

    def load(self, source: str) -> list[Segment]:
        return [s for (src, _), s in self.segments.items() if src == source]

    def seen(self, bounds: Bounds | None = None) -> SeenIds:
        return SeenIds(self.load, bounds or Bounds())

    def store(self, batch: SeenBatch) -> None:
        for plan in batch.plans():
            for segment in plan.writes:
                self.segments[(plan.source, segment.ident)] = segment
            for segment in plan.deletes:
                del self.segments[(plan.source, segment.ident)]
            batch.commit(plan)


def items(*ids: str) -> list[Item]:
    return [Item(i, "FeedbackEvent", {"event_id": e}, b"") for i, e in enumerate(ids)]


def at(offset: int, timestamp_ms: int | None = 0, partition: int = 2) -> Origin:
    return Origin(TOPIC, partition, offset, b"k", timestamp_ms)


def kept(batch: SeenBatch, origin: Origin, ids: Sequence[str]) -> list[str]:
    return [str(i.record["event_id"]) for i in batch.fresh(origin, items(*ids))]


def test_a_repeated_id_in_one_message_is_kept_once() -> None:
    batch = Store().seen().batch()
    assert kept(batch, at(0), ["a", "b", "a", "a"]) == ["a", "b"]
    assert batch.duplicates == 2


def test_a_repeated_id_in_a_later_message_of_the_batch_is_a_duplicate() -> None:
    batch = Store().seen().batch()
    assert kept(batch, at(0), ["a"]) == ["a"]
    assert kept(batch, at(1), ["a", "b"]) == ["b"]


def test_ids_of_a_stored_batch_are_duplicates_in_the_next_and_after_a_restart() -> None:
    store = Store()
    seen = store.seen()
    first = seen.batch()
    kept(first, at(0), ["a", "b"])
    store.store(first)
    assert kept(seen.batch(), at(1), ["a", "c"]) == ["c"]
    assert kept(store.seen().batch(), at(1), ["b", "c"]) == ["c"]  # rebuilt from the store


def test_an_unstored_batch_leaves_the_index_as_it_was() -> None:
    seen = Store().seen()
    kept(seen.batch(), at(0), ["a"])  # failed before its segments were stored
    assert kept(seen.batch(), at(0), ["a"]) == ["a"]


def test_a_segment_stored_ahead_of_its_values_does_not_swallow_their_replay() -> None:
    store = Store()
    batch = store.seen().batch()
    kept(batch, at(5), ["a", "b", "a"])
    kept(batch, at(6), ["c", "a"])
    store.store(batch)  # then a crash: values and source mark never written
    replay = store.seen().batch()
    assert kept(replay, at(5), ["a", "b", "a"]) == ["a", "b"]
    assert kept(replay, at(6), ["c", "a"]) == ["c"]
    assert kept(replay, at(7), ["b"]) == []


def test_partitions_are_deduplicated_apart() -> None:
    batch = Store().seen().batch()
    kept(batch, at(0, partition=1), ["a"])
    assert kept(batch, at(0, partition=2), ["a"]) == ["a"]


def test_items_not_wanted_pass_and_are_not_recorded() -> None:
    batch = Store().seen().batch()
    wanted = lambda item: item.index != 0  # noqa: E731
    assert len(batch.fresh(at(0), items("a", "a"), wanted)) == 2
    assert len(batch.fresh(at(1), items("a", "a"), wanted)) == 1  # index 1 seen at offset 0


def run(store: Store, seen: SeenIds, offset: int, ids: Sequence[str], ts: int = 0) -> list[str]:
    batch = seen.batch()
    out = kept(batch, at(offset, ts), ids)
    store.store(batch)
    return out


def test_ids_older_than_the_horizon_are_forgotten_oldest_first() -> None:
    store = Store()
    seen = store.seen(Bounds(horizon_ms=HOUR_MS, max_ids=10**6))
    run(store, seen, 0, ["old"], ts=0)
    run(store, seen, 1, ["mid"], ts=HOUR_MS // 2)
    run(store, seen, 2, ["new"], ts=HOUR_MS + 1)  # "old" is now beyond the horizon
    assert run(store, seen, 3, ["old", "mid", "new"], ts=HOUR_MS + 2) == ["old"]
    assert len(store.load(SOURCE)) < 4


def test_ids_beyond_the_count_are_forgotten_oldest_first() -> None:
    store = Store()
    seen = store.seen(Bounds(horizon_ms=HOUR_MS, max_ids=100))
    for n in range(50):
        run(store, seen, n, [f"id-{n}-{i}" for i in range(10)])
        held = sum(map(len, store.load(SOURCE)))
        assert held <= 100 + SEGMENT_MAX_IDS
        assert len(seen.index(SOURCE).ids) == held
    assert run(store, seen, 50, ["id-0-0", "id-49-9"]) == ["id-0-0"]


def test_small_batches_are_merged_into_few_segments() -> None:
    store = Store()
    seen = store.seen()
    for n in range(1000):
        run(store, seen, n, [f"id-{n}"])
    assert len(store.load(SOURCE)) <= 10  # a binary counter: one segment per set bit
    assert run(store, store.seen(), 1000, ["id-0", "id-999", "x"]) == ["x"]


def test_a_large_batch_is_split_into_records_well_under_a_mebibyte() -> None:
    store = Store()
    seen = store.seen()
    ids = [f"id-{i}" for i in range(2 * SEGMENT_MAX_IDS + 5)]
    batch = seen.batch()
    for offset in range(0, len(ids), 500):
        kept(batch, at(offset), ids[offset : offset + 500])
    store.store(batch)
    segments = store.load(SOURCE)
    assert len(segments) == 3
    assert max(len(s.raw) for s in segments) <= 256 * 1024 + 17  # 17 bytes of header
    assert kept(store.seen().batch(), at(10**6), ids[::1000]) == []


def test_a_segment_round_trips_through_its_record() -> None:
    segment = Segment.build((7, 1), (1000, 1234), [id_hash("a"), id_hash("b")], [7, 9])
    again = Segment(segment.ident, bytes(segment.raw))
    assert (again.oldest_ms, again.newest_ms) == (1000, 1234)
    assert list(again.entries()) == [(id_hash("a"), 7), (id_hash("b"), 9)]


@given(
    st.lists(st.lists(st.sampled_from("abcdefghij"), max_size=6), max_size=30),
    st.lists(st.integers(1, 5), min_size=1),
    st.booleans(),
)
def test_any_batching_with_restarts_keeps_each_id_once(
    messages: list[list[str]], cuts: list[int], restart: bool
) -> None:
    store = Store()
    seen = store.seen()
    counted: list[str] = []
    offset, n = 0, 0
    while offset < len(messages):
        size = cuts[n % len(cuts)]
        batch = seen.batch()
        for o in range(offset, min(offset + size, len(messages))):
            counted += kept(batch, at(o), messages[o])
        store.store(batch)
        seen = store.seen() if restart else seen
        offset, n = offset + size, n + 1
    assert sorted(counted) == sorted({i for m in messages for i in m})


def test_id_hashes_hash_each_id_as_id_hash() -> None:
    assert id_hashes(["a", "b", 7]) == [id_hash("a"), id_hash("b"), id_hash("7")]
