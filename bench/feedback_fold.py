"""CPU cost of the feedback agent's pure fold per event: decode, input rules, deduplication,
statistics (no broker, no tables: ``tally`` on encoded EventBatch messages in memory).

Prints process time per event, the best of three passes, without and with deduplication on
``event_id``, so a change to the hot path can be judged on a busy machine (process time does
not count the time other processes take).

Usage: python bench/feedback_fold.py [--events 100000] [--per-message 500]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tonebridge.agents import feedback  # noqa: E402
from tonebridge.agents.runtime.dedup import Bounds, SeenBatch, SeenIds  # noqa: E402
from tonebridge.client.packing import pack  # noqa: E402
from tonebridge.settings import load_settings  # noqa: E402
from tonebridge.topics.feedback import FEEDBACK_TOPIC, feedback_event  # noqa: E402
from tonebridge.topics.messages import Message, Origin  # noqa: E402

WORDS = "could you please send the report when you have a moment thanks a lot".split()
TOPIC = "bench.feedback"


@dataclass(frozen=True)
class Packed:
    topic: str
    key: bytes
    value: bytes


def records(n: int, rng: random.Random) -> list[dict[str, Any]]:
    def text(words: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(words))

    made = []
    for i in range(n):
        corrected = text(12) if rng.random() < 0.2 else None
        made.append(
            feedback_event(
                user_id=f"user-{i % 1000}",
                model_id=f"bench-model-{i % 16}",
                input_text=text(10),
                output_text=text(12),
                rating=None if corrected else rng.randint(1, 5),
                corrected_text=corrected,
                transformation_type="formal",
            )
        )
    return made


def messages(n: int, per_message: int, partitions: int) -> list[Message]:
    encoded = [FEEDBACK_TOPIC.encode(r) for r in records(n, random.Random(1))]
    packed = [Packed(TOPIC, m.key, m.value) for m in encoded]
    now_ms = int(time.time() * 1000)
    batches = pack(packed, per_message, 16 * 1024 * 1024, {TOPIC: partitions})
    return [(Origin(TOPIC, m.partition, i, m.key, now_ms), m.value) for i, m in enumerate(batches)]


def best_of(runs: int, fold: Callable[[], feedback.Tally]) -> tuple[float, feedback.Tally]:
    best, out = float("inf"), feedback.Tally()
    for _ in range(runs):
        started = time.process_time()
        out = fold()
        best = min(best, time.process_time() - started)
    return best, out


def fresh_seen() -> SeenBatch:
    return SeenIds(lambda _: [], Bounds()).batch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-message", type=int, default=500)
    args = parser.parse_args()
    partitions = FEEDBACK_TOPIC.partition_count(load_settings())
    batch = messages(args.events, args.per_message, partitions)
    for label, seen in (("without dedup", lambda: None), ("with dedup", fresh_seen)):
        seconds, out = best_of(
            3, lambda seen=seen: feedback.tally({}.get, batch, partitions, (), seen=seen())
        )
        if out.rejected:
            msg = f"the fold refused events: {out.rejected[:1]}"
            raise SystemExit(msg)
        print(f"{label}: {1e6 * seconds / args.events:.2f} us/event (process time, best of 3)")


if __name__ == "__main__":
    main()
