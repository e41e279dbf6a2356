"""Agent tables whose changelog write is on its way before the message is acknowledged.

faust's ``table[key] = value`` queues the changelog record in a buffer that its commit flush
may leave behind (``ProducerBuffer.flush_atmost`` gives up after 0.1 s without progress), so
an offset could be committed before the state it produced is durable. :class:`ExactTable`
instead awaits the producer's ``send`` (the record is in aiokafka's accumulator) before the
agent moves on; faust flushes that accumulator before it commits offsets. With the offset marks
kept in each value (:mod:`tonebridge.decisions.watermarks`), state is exact after any crash.

Values are cached decoded; the changelog holds their JSON (``to_json``/``from_json``), which
is also what :mod:`tonebridge.agents.views` reads. Requires the in-memory store.

Besides the values, a table holds one reserved key per source partition of its agents: the last
offset applied from it (:mod:`tonebridge.agents.runtime.sequencing`). Reserved keys start with
a NUL byte, which no model or test id does; :meth:`ExactTable.items` and the views skip them.
The ids its agents have seen (:mod:`tonebridge.agents.runtime.dedup`) are reserved keys too,
one per segment: ``\\x00seen:<topic>:<partition>:<first offset>:<part>``, a None value deleting
one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from tonebridge.agents.runtime.dedup import Bounds, SeenBatch, SeenIds
from tonebridge.agents.runtime.segments import Segment
from tonebridge.topics.spec import partition_for
from tonebridge.topics.tables import RESERVED, is_reserved

log = logging.getLogger(__name__)

_SOURCE_MARK = RESERVED + b"source:"
_SEEN = RESERVED + b"seen:"


class Stored(Protocol):
    def to_json(self) -> bytes: ...


V = TypeVar("V", bound=Stored)


class ExactTable(Generic[V]):
    """A faust table keyed by ``str`` holding one value type, written once per message."""

    def __init__(
        self,
        table: Any,
        decode: Callable[[bytes], V],
        *,
        partitions: int,
        durable: bool = True,
        dedup: Bounds | None = None,
    ) -> None:
        self._table = table
        self._decode = decode
        self.partitions = partitions
        # False only in faust test_context, where no producer runs.
        self._durable = durable
        self.seen = SeenIds(self._seen_segments, dedup or Bounds())

    @property
    def name(self) -> str:
        return str(self._table.name)

    def get(self, key: str) -> V | None:
        if is_reserved(key.encode()):
            return None
        value = self._table.data.get(key.encode())
        if isinstance(value, bytes):
            value = self._decode(value)
            self._table.data[key.encode()] = value
        return value  # type: ignore[no-any-return]

    async def put(self, key: str, value: V, partition: int) -> None:
        """Store ``value`` and hand its changelog record to the producer (awaited)."""
        raw_key = key.encode()
        if self._durable:
            await self._table.changelog_topic.send(
                key=raw_key, value=value.to_json(), partition=partition
            )
        # Only after the send: a failed send leaves the old value for the retry to start from.
        self._table.data[raw_key] = value

    def restore(self, records: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Apply changelog records read after faust's recovery (:mod:`.recovery`), in order."""
        data = self._table.data
        for raw_key, raw_value in records:
            if raw_value is None:
                data.pop(raw_key, None)
            else:
                data[raw_key] = raw_value  # decoded on first use, as recovered values are

    def items(self, partitions: set[int] | None = None) -> Iterator[tuple[str, V]]:
        """Every value, or only those of keys routed to ``partitions``."""
        for raw_key in list(self._table.data.keys()):
            if is_reserved(raw_key):
                continue
            key = raw_key.decode()
            if partitions is not None and self.partition_of(key) not in partitions:
                continue
            value = self.get(key)
            if value is not None:
                yield key, value

    def partition_of(self, key: str) -> int:
        return partition_for(key.encode(), self.partitions)

    def source_mark(self, source: str) -> int | None:
        """The last offset of ``source`` (``"topic:partition"``) applied, if any."""
        value = self._table.data.get(_SOURCE_MARK + source.encode())
        if value is None:
            return None
        if isinstance(value, bytes):
            value = int(json.loads(value)["offset"])
            self._table.data[_SOURCE_MARK + source.encode()] = value
        return int(value)

    async def put_source_mark(self, source: str, offset: int, partition: int) -> None:
        """Record ``offset`` as the last applied from ``source``, in changelog ``partition``."""
        raw_key = _SOURCE_MARK + source.encode()
        if self._durable:
            value = json.dumps({"offset": offset}).encode()
            await self._table.changelog_topic.send(key=raw_key, value=value, partition=partition)
        self._table.data[raw_key] = offset

    async def store_seen(self, batch: SeenBatch) -> None:
        """Store the ids first seen in ``batch`` (before its source marks), then index them."""
        for plan in batch.plans():
            for segment in plan.writes:
                await self._put_raw(_seen_key(plan.source, segment), segment.raw, plan.partition)
            for segment in plan.deletes:
                await self._put_raw(_seen_key(plan.source, segment), None, plan.partition)
            batch.commit(plan)
        if batch.duplicates:
            log.info("%s: skipped %d duplicate event(s)", self.name, batch.duplicates)

    async def recovered(self) -> None:
        """After faust's recovery: the seen ids are read again from the recovered segments."""
        self.seen.forget()

    def _seen_segments(self, source: str) -> list[Segment]:
        prefix = _SEEN + source.encode() + b":"
        found: list[Segment] = []
        for raw_key, value in list(self._table.data.items()):
            if raw_key.startswith(prefix) and isinstance(value, bytes):
                first, part = raw_key[len(prefix) :].split(b":")
                found.append(Segment((int(first), int(part)), value))
        return found

    async def _put_raw(self, raw_key: bytes, value: bytes | None, partition: int) -> None:
        if self._durable:
            await self._table.changelog_topic.send(key=raw_key, value=value, partition=partition)
        if value is None:
            self._table.data.pop(raw_key, None)
        else:
            self._table.data[raw_key] = value


def _seen_key(source: str, segment: Segment) -> bytes:
    first, part = segment.ident
    return _SEEN + f"{source}:{first}:{part}".encode()
