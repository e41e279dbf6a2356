"""Which events a stream fold has seen before: deduplication on ``event_id`` (pure).

A client that times out retries, so one event (one ``event_id``) can arrive many times. The
database keeps the first write by primary key; the folds here must count it once too. So the
agents pass each message's events through :meth:`SeenBatch.fresh` and fold only first
occurrences: a duplicate is neither counted nor dead-lettered (a retry is not an error).

Per source partition, an index maps a 64-bit hash of each id (blake2b, 8 bytes; among ``n``
distinct ids two collide with probability about n²/2^65, 3e-8 for a million, and the later
one would be taken for a duplicate) to the offset of the message it was first seen in. An
event is a duplicate only if its id was seen at an EARLIER offset of the same partition, or
earlier in the same message (an EventBatch). Replaying a message whose ids are already durable
(a crash between the ids and the values) therefore never makes it a duplicate of itself.

Durability: a batch's new ids become segments (:mod:`tonebridge.agents.runtime.segments`),
reserved keys of the agent's table written before its source mark; an index is rebuilt from
them on first use after a restart or a rebalance.

Bounds, per source partition: segments whose newest record timestamp is older than the
horizon (behind the newest timestamp seen), or beyond ``max_ids`` ids, are deleted oldest
first; the newest segment is always kept, so ``max_ids`` may be exceeded by one segment. So an
id is kept for at least the horizon (unless the count bound comes first) and at most 9/8 of
it; one retried after it left the index is counted again. Record timestamps are the
producer's clock unless the topic appends its own; a message without one counts as the
newest so far. In memory an id costs about 150 bytes (its dict entry and 16 bytes of segment).

Topics are keyed by model id / test id: the same event id sent under another key lands on
another partition and is not deduplicated there (the stream deduplicates per partition).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tonebridge.agents.runtime.segments import SEGMENT_MAX_IDS, Ident, Segment, id_hashes
from tonebridge.decisions.watermarks import source_id
from tonebridge.topics.messages import Item, Origin


@dataclass(frozen=True, slots=True)
class Bounds:
    horizon_ms: int = 3_600_000
    max_ids: int = 1_000_000


class SeenIndex:
    """The ids of one source partition that are durable: hash -> first offset, and segments."""

    def __init__(self, segments: Iterable[Segment] = ()) -> None:
        self.segments = sorted(segments, key=lambda s: s.ident)
        self.ids: dict[bytes, int] = {}
        for segment in self.segments:
            for digest, offset in segment.entries():
                if self.ids.get(digest, offset) >= offset:
                    self.ids[digest] = offset

    def clock_ms(self) -> int:
        return max((s.newest_ms for s in self.segments), default=0)


@dataclass(frozen=True)
class Plan:
    """What a batch changes in one partition's segments: to write, to delete, the result."""

    source: str
    partition: int
    writes: tuple[Segment, ...]
    deletes: tuple[Segment, ...]  # stored segments to tombstone (merged away or evicted)
    segments: tuple[Segment, ...]
    added: dict[bytes, int]
    evicted: tuple[Segment, ...]


@dataclass
class _Fresh:
    """One partition's ids first seen in the batch (in offset order) and their record times."""

    partition: int
    ids: dict[bytes, int] = field(default_factory=dict)
    oldest_ms: int | None = None
    newest_ms: int | None = None

    def see(self, timestamp_ms: int | None) -> None:
        if timestamp_ms is None:
            return
        self.oldest_ms = min(timestamp_ms, _or(self.oldest_ms, timestamp_ms))
        self.newest_ms = max(timestamp_ms, _or(self.newest_ms, timestamp_ms))


class SeenIds:
    """Every source partition's index of one table, loaded lazily from stored segments."""

    def __init__(self, load: Callable[[str], Iterable[Segment]], bounds: Bounds) -> None:
        self._load = load
        self.bounds = bounds
        self._indexes: dict[str, SeenIndex] = {}

    def index(self, source: str) -> SeenIndex:
        found = self._indexes.get(source)
        if found is None:
            found = self._indexes[source] = SeenIndex(self._load(source))
        return found

    def forget(self) -> None:
        """Drop the indexes (after a recovery); they are rebuilt from the table on first use."""
        self._indexes.clear()

    def batch(self) -> SeenBatch:
        return SeenBatch(self)


Wanted = Callable[[Item], bool]


class SeenBatch:
    """One batch's view: the stored ids plus those first seen in the batch (not yet stored)."""

    def __init__(self, seen: SeenIds) -> None:
        self._seen = seen
        self._fresh: dict[str, _Fresh] = {}
        self._indexes: dict[str, SeenIndex] = {}
        self.duplicates = 0

    def fresh(
        self, origin: Origin, items: Sequence[Item], wanted: Wanted | None = None
    ) -> list[Item]:
        """``items`` of the message at ``origin`` but those seen before (``wanted`` ones only)."""
        source = source_id(origin.topic, origin.partition)
        stored = self._index(source).ids
        new = self._fresh.setdefault(source, _Fresh(origin.partition))
        chosen = items if wanted is None else [i for i in items if wanted(i)]
        digests = id_hashes([item.record["event_id"] for item in chosen])
        unique = set(digests)
        if (
            len(unique) == len(digests)
            and new.ids.keys().isdisjoint(unique)
            and stored.keys().isdisjoint(unique)
        ):
            new.ids.update(dict.fromkeys(digests, origin.offset))  # the common case: all new
            new.see(origin.timestamp_ms)
            return list(items)
        firsts = iter(self._firsts(origin, digests, stored, new))
        return [i for i in items if (wanted is not None and not wanted(i)) or next(firsts)]

    def _firsts(
        self, origin: Origin, digests: Sequence[bytes], stored: dict[bytes, int], new: _Fresh
    ) -> list[bool]:
        """Whether each id of a message is a first occurrence (recording those that are)."""
        in_message: set[bytes] = set()
        firsts: list[bool] = []
        for digest in digests:
            first = new.ids.get(digest, stored.get(digest, origin.offset))
            firsts.append(digest not in in_message and first >= origin.offset)
            if not firsts[-1]:
                self.duplicates += 1
                continue
            in_message.add(digest)
            if first > origin.offset or digest not in stored:
                new.ids[digest] = origin.offset
                new.see(origin.timestamp_ms)
        return firsts

    def plans(self) -> list[Plan]:
        """What to store for every partition with new ids."""
        bounds = self._seen.bounds
        return [
            plan(source, self._indexes[source], fresh, bounds)
            for source, fresh in self._fresh.items()
            if fresh.ids
        ]

    def commit(self, done: Plan) -> None:
        """Apply a plan whose writes are stored to the index this batch read."""
        apply(self._indexes[done.source], done)

    def _index(self, source: str) -> SeenIndex:
        found = self._indexes.get(source)
        if found is None:
            found = self._indexes[source] = self._seen.index(source)
        return found


def plan(source: str, index: SeenIndex, fresh: _Fresh, bounds: Bounds) -> Plan:
    """The segments after adding ``fresh``'s ids: chunked, merged, bounded (pure)."""
    clock = index.clock_ms()
    span = (_or(fresh.oldest_ms, clock), _or(fresh.newest_ms, clock))
    taken = {s.ident for s in index.segments}
    segments = list(index.segments)
    written: dict[Ident, Segment] = {}
    digests, offsets = list(fresh.ids), list(fresh.ids.values())  # in offset order
    for start in range(0, len(digests), SEGMENT_MAX_IDS):
        chunk = offsets[start : start + SEGMENT_MAX_IDS]
        ident = _free_ident(min(chunk), taken)
        taken.add(ident)
        segments.append(Segment.build(ident, span, digests[start : start + SEGMENT_MAX_IDS], chunk))
        written[ident] = segments[-1]
        _merge_tail(segments, written, bounds.horizon_ms // 8)
    evicted = _evict(segments, bounds)
    kept = {s.ident for s in segments}
    return Plan(
        source=source,
        partition=fresh.partition,
        writes=tuple(s for s in segments if s.ident in written),
        deletes=tuple(s for s in index.segments if s.ident not in kept),
        segments=tuple(segments),
        added=dict(fresh.ids),
        evicted=tuple(evicted),
    )


def _free_ident(first: int, taken: set[Ident]) -> Ident:
    part = 0
    while (first, part) in taken:
        part += 1
    return first, part


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _merge_tail(segments: list[Segment], written: dict[Ident, Segment], span_ms: int) -> None:
    """Merge the newest segment into the one before while that one is no larger."""
    while len(segments) >= 2:
        older, newer = segments[-2], segments[-1]
        if len(older) > len(newer) or len(older) + len(newer) > SEGMENT_MAX_IDS:
            return
        if max(older.newest_ms, newer.newest_ms) - min(older.oldest_ms, newer.oldest_ms) > span_ms:
            return
        segments[-2:] = [older.merged(newer)]
        written.pop(newer.ident, None)
        written[older.ident] = segments[-1]


def _evict(segments: list[Segment], bounds: Bounds) -> list[Segment]:
    """Remove the oldest segments beyond the horizon or the id count; the newest stays."""
    clock = max(s.newest_ms for s in segments)
    total = sum(map(len, segments))
    evicted: list[Segment] = []
    while len(segments) > 1:
        oldest = segments[0]
        if oldest.newest_ms >= clock - bounds.horizon_ms and total <= bounds.max_ids:
            break
        evicted.append(segments.pop(0))
        total -= len(oldest)
    return evicted


def apply(index: SeenIndex, done: Plan) -> None:
    """The index after its plan's writes and deletes are stored."""
    index.segments = list(done.segments)
    if index.ids.keys().isdisjoint(done.added):
        index.ids.update(done.added)  # the common case: every id is new
    else:
        for digest, offset in done.added.items():
            if index.ids.get(digest, offset) >= offset:
                index.ids[digest] = offset
    for segment in done.evicted:
        for digest, offset in segment.entries():
            if index.ids.get(digest) == offset:
                del index.ids[digest]
