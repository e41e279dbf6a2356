"""Table recovery that reads each changelog partition to its true end.

faust recovers a table by reading its changelog partitions up to the end offsets the broker
reports. The embedded broker (Tansu) reports a partition's end as the first offset of its last
record batch plus one, so faust stops at the first record of a multi-record last batch and the
rest of that batch (values, and the source mark written after them) would be missing from the
recovered table. The per-key and per-partition offset marks would repair the values of a
source the next time it delivers, but a table fed by two sources (the A/B table: commands and
outcomes) could meanwhile fold a command into a value that lacks its last outcomes.

So once faust's recovery is done, and before the agents resume, :func:`read_tails` reads every
active changelog partition from its reported end minus one: the broker returns the whole last
batch, and its records are applied in offset order (the newest record of a key is its value).
Nothing else writes to those partitions then (faust flushes the producer before it gives up
partitions, and the streams are paused until recovery completes). On a broker that reports
exact ends this re-reads one record already applied and changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from tonebridge.errors import BrokerError
from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs

log = logging.getLogger(__name__)

Record = tuple[bytes, bytes | None]  # (key, value); a None value deletes the key


class Restorable(Protocol):
    def restore(self, records: Iterable[Record]) -> None:
        """Apply changelog records, in offset order, to the table's data."""


class Tails(Protocol):
    async def tails(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, list[Any]]:
        """Each partition's records from its reported end minus one, in offset order."""


class TailReader:
    """Reads the last record batch of partitions, over a consumer of its own."""

    def __init__(self, settings: Settings, timeout_s: float = 30.0) -> None:
        self._settings = settings
        self._timeout_s = timeout_s

    async def tails(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, list[Any]]:
        """Each partition's records from its reported end minus one, in offset order."""
        partitions = sorted(set(tps))
        found: dict[TopicPartition, list[Any]] = {tp: [] for tp in partitions}
        if not partitions:
            return found
        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=self._settings.kafka_fetch_max_wait_ms,
            **client_kwargs(self._settings, "tonebridge-recovery"),
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            starts = {tp: max(0, int(ends[tp]) - 1) for tp in partitions}
            for tp, start in starts.items():
                consumer.seek(tp, start)
            deadline = time.monotonic() + self._timeout_s
            # A fetch returns whole record batches: once a partition's position has passed
            # its reported end, its last batch has been read, whatever the broker reports.
            while pending := [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                if time.monotonic() > deadline:
                    msg = f"could not read the changelog tails of {sorted(map(str, pending))}"
                    raise BrokerError(msg)
                fetched = await consumer.getmany(*pending, timeout_ms=500)
                for tp, records in fetched.items():
                    found[tp] += [r for r in records if r.offset >= starts[tp]]
        finally:
            await consumer.stop()
        return found


async def read_tails(table: Restorable, reader: Tails, active: Iterable[TopicPartition]) -> int:
    """Apply the last record batch of each ``active`` changelog partition; the records read."""
    tails = await reader.tails(active)
    for tp, records in sorted(tails.items()):
        table.restore((r.key, r.value) for r in records)
        if len(records) > 1:
            log.info("%s:%d: applied %d records after its reported end", *tp, len(records) - 1)
    return sum(map(len, tails.values()))


def on_recovered(
    faust_table: Any, table: Restorable, reader: Tails
) -> Callable[[], Awaitable[None]]:
    """A faust ``on_recover`` callback reading the tails of the table's active partitions."""

    async def recovered() -> None:
        recovery = faust_table.app.tables.recovery
        active = {
            TopicPartition(tp.topic, tp.partition)
            for tp in recovery.actives_for_table.get(faust_table, set())
        }
        await read_tails(table, reader, active)

    return recovered
