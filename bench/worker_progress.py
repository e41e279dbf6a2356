"""What ``bench/stream_throughput.py`` reads of a running worker: its progress and decisions.

* :class:`Progress` polls the worker's ``/metrics`` (``tonebridge_worker_messages_total``):
  the moment the first message was applied starts the clock (and the CPU reading), the
  moment every produced message was applied stops it. Unlike the changelog counts this
  holds when tests decide (a decided test keeps no arm counts) and policies fire.
  A scrape costs the worker about 1 ms of CPU (a tenth of its CPU at one every 20 ms), so
  while the end is far off the polls are sparser (:func:`next_poll_s`), and every 20 ms
  again as it nears.
* :func:`decided_tests` reads the ``ab_tests`` changelog: which tests the worker decided.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from collections import Counter
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from tonebridge.settings import Settings
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.spec import TopicSpec
from tonebridge.topics.tables import ABTEST_TABLE, changelog_topic, is_reserved

# The agent that applies each source topic's messages (``--no-sink``: no persist_feedback).
AGENTS: dict[TopicSpec, str] = {
    FEEDBACK_TOPIC: "tally_feedback",
    INFERENCE_OUTCOMES_TOPIC: "judge_ab_tests",
    ABTEST_COMMANDS_TOPIC: "define_ab_tests",
}
POLL_S = 0.02  # the clock's resolution at the first and the last applied message
SPARSE_POLL_S = 0.25  # the longest pause while the end is far off


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - a local http URL
        return str(answer.read().decode())


def applied(port: int) -> Counter[str]:
    """Messages each agent has applied so far, from the worker's ``/metrics``."""
    counts: Counter[str] = Counter()
    for line in metrics(port).splitlines():
        if line.startswith("tonebridge_worker_messages_total{"):
            labels, _, value = line.rpartition(" ")
            agent = labels.split('agent="', 1)[1].split('"', 1)[0]
            counts[agent] = int(float(value))
    return counts


def decisions(port: int) -> tuple[int, int]:
    """(verdicts sent, training commands the policies sent) so far."""
    totals = {"verdicts": 0.0, "policy_fires": 0.0}
    for line in metrics(port).splitlines():
        for name in totals:
            if line.startswith(f"tonebridge_worker_{name}_total{{"):
                totals[name] += float(line.rpartition(" ")[2])
    return int(totals["verdicts"]), int(totals["policy_fires"])


def next_poll_s(done: int, total: int, elapsed_s: float) -> float:
    """The pause before the next poll: half the time the rest would take at the rate so far
    (``done`` of ``total`` messages in ``elapsed_s``), within ``POLL_S`` to ``SPARSE_POLL_S``."""
    if done <= 0 or elapsed_s <= 0:
        return POLL_S
    left_s = (total - done) * elapsed_s / done
    return min(max(left_s / 2, POLL_S), SPARSE_POLL_S)


class Progress:
    """The worker's applied messages against what was produced, per agent."""

    def __init__(self, port: int, pid: int) -> None:
        self.port, self.pid = port, pid
        self.sent: Counter[str] = Counter()  # agent -> messages produced for it
        self.started = self.cpu_started = 0.0

    def count(self, spec: TopicSpec, messages: int) -> None:
        if spec in AGENTS:
            self.sent[AGENTS[spec]] += messages

    async def poll(self) -> Counter[str]:
        try:
            return await asyncio.to_thread(applied, self.port)
        except OSError:  # the worker is starting: its metrics server is not up yet
            return Counter()

    async def first_applied(self, timeout_s: float) -> None:
        """Wait for the first applied message; the clock and the CPU reading start there."""
        deadline = time.monotonic() + timeout_s
        while not sum((await self.poll()).values()):
            if time.monotonic() > deadline:
                msg = f"the worker applied nothing in {timeout_s}s"
                raise TimeoutError(msg)
            await asyncio.sleep(POLL_S)  # polling another process: nothing to wait on
        self.started, self.cpu_started = time.perf_counter(), cpu_seconds(self.pid)

    async def all_applied(self, timeout_s: float) -> tuple[float, float]:
        """Wait until every produced message is applied: (seconds, CPU seconds) since the first."""
        deadline = time.monotonic() + timeout_s
        total = sum(self.sent.values())
        while (done := self._done(await self.poll())) < total:
            if time.monotonic() > deadline:
                msg = f"the worker did not apply {dict(self.sent)} in {timeout_s}s"
                raise TimeoutError(msg)
            elapsed = time.perf_counter() - self.started
            await asyncio.sleep(next_poll_s(done, total, elapsed))  # another process: no event
        return time.perf_counter() - self.started, cpu_seconds(self.pid) - self.cpu_started

    def _done(self, counts: Counter[str]) -> int:
        """Messages applied so far, each agent's counted up to what was produced for it."""
        return sum(min(counts[agent], sent) for agent, sent in self.sent.items())


async def decided_tests(settings: Settings) -> dict[str, str]:
    """test id -> status, of every test the ``ab_tests`` changelog holds now."""
    topic = changelog_topic(settings, ABTEST_TABLE)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    status: dict[str, str] = {}
    try:
        while polled := await consumer.getmany(timeout_ms=1000):
            for messages in polled.values():
                for m in messages:
                    if m.value is not None and not is_reserved(m.key):
                        status[m.key.decode()] = json.loads(m.value)["status"]
    finally:
        await consumer.stop()
    return status
