"""The stream worker's Prometheus metrics, counted per batch and per effect sent.

* ``tonebridge_worker_messages_total{agent}``: Kafka messages an agent applied (a message may
  hold an EventBatch of events); with ``tonebridge_worker_batch_duration_seconds{agent}``.
* ``tonebridge_worker_dead_letters_total{error}``: dead letters sent, by error class: a name
  of tonebridge's error tree or ``other``, never the free-text reason (bounded labels).
* ``tonebridge_worker_verdicts_total{decision}``: A/B verdicts sent (the schema's enum).
* ``tonebridge_worker_policy_fires_total{policy}``: training commands the retraining policies
  sent (policy names come from the policies file, so they are bounded too).
* ``tonebridge_worker_consumer_lag{agent,topic,partition}``: a source partition's end (the
  consumer's last fetched high watermark) minus the next offset the agent's table marks as
  applied; refreshed on a timer from values the process already holds (no broker round trip).

Effects are counted once the outbox took them: a batch retried after a transient failure
sends (and counts) its effects again, with the same event ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tonebridge.agents.runtime.consume import BatchHandler
from tonebridge.agents.runtime.tables import ExactTable
from tonebridge.decisions.watermarks import source_id
from tonebridge.errors import TonebridgeError
from tonebridge.observability.server import process_registry
from tonebridge.topics.abtests import ABTEST_VERDICTS_TOPIC
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.messages import Message
from tonebridge.topics.spec import TopicSpec
from tonebridge.topics.training import POLICY_REQUESTER, TRAINING_COMMANDS_TOPIC

_BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _error_names(root: type[BaseException]) -> frozenset[str]:
    names = {root.__name__}
    for sub in root.__subclasses__():
        names |= _error_names(sub)
    return frozenset(names)


ERROR_CLASSES = _error_names(TonebridgeError)  # the label values of dead letters, and "other"

Highwater = Callable[[str, int], int | None]  # (topic, partition) -> the partition's end


class WorkerMetrics:
    """The counters of one worker process, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or process_registry()
        self.messages = self._counter("tonebridge_worker_messages", "Messages applied.", "agent")
        self.batch_seconds = Histogram(
            "tonebridge_worker_batch_duration_seconds", "Time to apply a batch of messages.",
            ["agent"], buckets=_BATCH_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.dead_letters = self._counter(
            "tonebridge_worker_dead_letters", "Dead letters sent, by error class.", "error"
        )
        self.verdicts = self._counter(
            "tonebridge_worker_verdicts", "A/B test verdicts sent, by decision.", "decision"
        )
        self.policy_fires = self._counter(
            "tonebridge_worker_policy_fires", "Training commands fired by a policy.", "policy"
        )
        self.lag = Gauge(
            "tonebridge_worker_consumer_lag",
            "Messages of a source partition not yet applied by its agent.",
            ["agent", "topic", "partition"],
            registry=self.registry,
        )
        self._sources: list[tuple[str, str, ExactTable[Any]]] = []
        self._lagging: set[tuple[str, str, str]] = set()

    def _counter(self, name: str, doc: str, label: str) -> Counter:
        return Counter(name, doc, [label], registry=self.registry)

    def counted(self, agent: str, handle: BatchHandler) -> BatchHandler:
        """``handle``, counting the messages of each batch it applied and timing it."""
        messages, seconds = self.messages.labels(agent), self.batch_seconds.labels(agent)

        async def counting(batch: Sequence[Message]) -> None:
            started = time.perf_counter()
            await handle(batch)
            seconds.observe(time.perf_counter() - started)
            messages.inc(len(batch))

        return counting

    def sent(self, spec: TopicSpec, records: Iterable[Mapping[str, Any]]) -> None:
        """Count the effects among records the outbox took (other topics are not counted)."""
        if spec.base == DEADLETTER_TOPIC.base:
            for record in records:
                self.dead_letters.labels(error_class(record.get("error_type"))).inc()
        elif spec.base == ABTEST_VERDICTS_TOPIC.base:
            for record in records:
                self.verdicts.labels(str(record["decision"])).inc()
        elif spec.base == TRAINING_COMMANDS_TOPIC.base:
            for record in records:
                requester = str(record.get("requested_by") or "")
                self.policy_fires.labels(requester.removeprefix(POLICY_REQUESTER)).inc()

    def watch(self, agent: str, topic: str, table: ExactTable[Any]) -> None:
        """Report the lag of ``agent`` on ``topic`` against the marks of ``table``."""
        self._sources.append((agent, topic, table))

    def refresh_lag(self, assigned: Iterable[tuple[str, int]], highwater: Highwater) -> None:
        """Set the lag of each assigned source partition whose end is known; forget the rest."""
        now: set[tuple[str, str, str]] = set()
        for topic, partition in assigned:
            end = highwater(topic, partition)
            for agent, source, table in self._sources:
                if source != topic or end is None:
                    continue
                mark = table.source_mark(source_id(topic, partition))
                labels = (agent, topic, str(partition))
                self.lag.labels(*labels).set(max(end - (-1 if mark is None else mark) - 1, 0))
                now.add(labels)
        for gone in self._lagging - now:  # revoked in a rebalance: another worker reports it
            self.lag.remove(*gone)
        self._lagging = now


def error_class(name: object) -> str:
    """A dead letter's label: its error class if it is one of tonebridge's, else ``other``."""
    return name if isinstance(name, str) and name in ERROR_CLASSES else "other"
