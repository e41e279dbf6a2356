"""How the embedded broker's answers slow down as a partition accumulates record batches.

The embedded broker (Tansu, memory storage) keeps every record batch as a separate object, and
its fetch and list-offsets answers take longer the more batches a partition holds. This fills
the partitions of one topic with single-record batches, step by step, and after each step
times, side by side, on that topic and on a fresh one:

- list offsets: a ListOffsets request (the consumer's ``end_offsets``);
- produce -> fetch: from a record acknowledged to a consumer that waits at the end of the
  partition receiving it (``fetch_max_wait_ms`` 20, the settings' default).

Usage: python bench/embedded_broker.py [--steps 0 5000 10000 20000 40000] [--samples 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tonebridge.broker import EmbeddedBroker  # noqa: E402

PARTITIONS = 4
STALLED_S = 5.0


async def fill(bootstrap: str, topic: str, batches: int) -> None:
    """Add ``batches`` single-record batches to each partition of ``topic``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, enable_idempotence=False)
    await producer.start()
    try:
        for _ in range(batches):  # one batch per partition per request: awaited before the next
            sent = [await producer.send(topic, b"f" * 100, partition=p) for p in range(PARTITIONS)]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def probe(bootstrap: str, topic: str, samples: int) -> tuple[float, float, float]:
    """Median ListOffsets time, median and max produce -> fetch time (ms) on partition 0."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, enable_idempotence=False)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=20)
    await producer.start()
    await consumer.start()
    tp = TopicPartition(topic, 0)
    try:
        consumer.assign([tp])
        listing = []
        for _ in range(5):
            started = time.perf_counter()
            end = (await consumer.end_offsets([tp]))[tp]
            listing.append((time.perf_counter() - started) * 1000)
        consumer.seek(tp, end)
        waits = []
        for _ in range(samples):
            await producer.send_and_wait(topic, b"p", partition=0)
            started = time.perf_counter()
            got = None
            while not got and time.perf_counter() - started < STALLED_S:
                got = (await consumer.getmany(tp, timeout_ms=1000)).get(tp)
            waits.append((time.perf_counter() - started) * 1000 if got else float("inf"))
        return statistics.median(listing), statistics.median(waits), max(waits)
    finally:
        await consumer.stop()
        await producer.stop()


def ms(value: float) -> str:
    return f"no answer in {STALLED_S:.0f} s" if value == float("inf") else f"{value:.1f}"


async def main(args: argparse.Namespace, broker: EmbeddedBroker) -> None:
    bootstrap = broker.bootstrap_servers
    grown = f"grown-{uuid.uuid4().hex[:6]}"
    await fill(bootstrap, grown, 1)
    held = 1
    print("batches per partition | list offsets ms (grown / fresh) | produce->fetch ms "
          "p50 (grown / fresh) | max (grown / fresh)")  # fmt: skip
    for step in args.steps:
        if step > held:
            started = time.perf_counter()
            await fill(bootstrap, grown, step - held)
            print(f"  (added {step - held:,} batches per partition in "
                  f"{time.perf_counter() - started:.1f} s)")  # fmt: skip
            held = step
        fresh = f"fresh-{uuid.uuid4().hex[:6]}"
        await fill(bootstrap, fresh, 1)
        g = await probe(bootstrap, grown, args.samples)
        f = await probe(bootstrap, fresh, args.samples)
        print(f"{held:>21,} | {ms(g[0]):>7} / {ms(f[0]):<7} | {ms(g[1]):>9} / {ms(f[1]):<9} "
              f"| {ms(g[2])} / {ms(f[2])}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 5000, 10_000, 20_000, 40_000])
    parser.add_argument("--samples", type=int, default=20)
    with EmbeddedBroker() as embedded:
        asyncio.run(main(parser.parse_args(), embedded))
