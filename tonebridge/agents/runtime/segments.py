"""The stored form of deduplication's ids (:mod:`tonebridge.agents.runtime.dedup`) (pure).

Durability: a batch's new ids become segments, reserved keys of the agent's table
(:meth:`tonebridge.agents.runtime.tables.ExactTable.store_seen`) written in the changelog
partition of the batch's values and before its source mark; an index is rebuilt from them on
first use after a restart or a rebalance. A segment holds the oldest and newest record
timestamp of its messages, then its ids' 8-byte hashes, then their offsets (little-endian u64),
at most :data:`SEGMENT_MAX_IDS` ids (a 256 KiB record). A new segment is merged into the one
before it while that one is no larger (a binary counter) and the two span at most 1/8 of the
horizon, so a steady stream of small batches makes a few segments per eighth of the horizon
rather than one per batch.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b as _blake2b

SEGMENT_MAX_IDS = 16_384  # 16 bytes an id: a 256 KiB changelog record at most
_HEADER = struct.Struct("<Bqq")  # format version, oldest and newest record timestamp (ms)
_VERSION = 1
Ident = tuple[int, int]  # (first offset, part): a segment's place in its partition


def id_hash(event_id: str) -> bytes:
    """The 64-bit hash an id is kept as."""
    return _blake2b(event_id.encode(), digest_size=8).digest()


def id_hashes(event_ids: Iterable[object]) -> list[bytes]:
    """:func:`id_hash` of each id (as ``str``), in one loop: one per event of a message."""
    return [_blake2b(str(event_id).encode(), digest_size=8).digest() for event_id in event_ids]


def _offsets(values: Sequence[int]) -> bytes:
    packed = array("Q", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _read_offsets(raw: bytes | memoryview) -> array[int]:
    values = array("Q")
    values.frombytes(raw)
    if sys.byteorder == "big":
        values.byteswap()
    return values


@dataclass(frozen=True, slots=True)
class Segment:
    """Some ids of one source partition, as stored: ``raw`` is the changelog record."""

    ident: Ident
    raw: bytes
    # The header's times, read once (a batch's plan looks at every segment's newest time).
    oldest_ms: int = field(init=False, compare=False, repr=False)
    newest_ms: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _, oldest, newest = _HEADER.unpack_from(self.raw)
        object.__setattr__(self, "oldest_ms", oldest)
        object.__setattr__(self, "newest_ms", newest)

    @classmethod
    def build(
        cls,
        ident: Ident,
        span_ms: tuple[int, int],
        digests: Sequence[bytes],
        offsets: Sequence[int],
    ) -> Segment:
        """A segment of ids (``digests``) first seen at ``offsets``, from ``span_ms`` (ms)."""
        head = _HEADER.pack(_VERSION, *span_ms)
        return cls(ident, head + b"".join(digests) + _offsets(offsets))

    def __len__(self) -> int:
        return (len(self.raw) - _HEADER.size) // 16

    def _columns(self) -> tuple[bytes, bytes]:
        middle = _HEADER.size + 8 * len(self)
        return self.raw[_HEADER.size : middle], self.raw[middle:]

    def entries(self) -> Iterator[tuple[bytes, int]]:
        digests, offsets = self._columns()
        found = (digests[i : i + 8] for i in range(0, len(digests), 8))
        return zip(found, _read_offsets(offsets), strict=True)

    def merged(self, later: Segment) -> Segment:
        span = min(self.oldest_ms, later.oldest_ms), max(self.newest_ms, later.newest_ms)
        (mine, my_offsets), (its, its_offsets) = self._columns(), later._columns()
        head = _HEADER.pack(_VERSION, *span)
        return Segment(self.ident, head + mine + its + my_offsets + its_offsets)
