"""A restarted worker recovers its tables to the changelogs' true ends.

The embedded broker reports a partition's end as the first offset of its last record batch
plus one, and faust's recovery reads a changelog only that far. The worker writes a batch's
table values back to back, so they share record batches; without reading the tails
(:mod:`tonebridge.agents.runtime.recovery`) a restarted worker would hold older values for every key
of a partition's last batch but the first.
"""

from __future__ import annotations

import signal

import pytest

from tests.integration.agents.conftest import Streams, eventually
from tests.support.agents import create_test, outcome, stop_test
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.spec import partition_for
from tonebridge.topics.tables import ABTEST_TABLE, changelog_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PER_ARM = 20


def same_partition_tests(partitions: int, n: int) -> tuple[int, list[str]]:
    """``n`` test ids that route to one partition, and that partition."""
    ids = (f"rec-{i}" for i in range(10_000))
    first = next(ids)
    partition = partition_for(first.encode(), partitions)
    rest = [t for t in ids if partition_for(t.encode(), partitions) == partition]
    return partition, [first, *rest[: n - 1]]


def assigned(streams: Streams, test_id: str) -> dict[str, int]:
    state = streams.tests.get(test_id)
    return {} if state is None else {a: s.assigned for a, s in state.stats.arms.items()}


def sampled(streams: Streams, test_id: str) -> dict[str, int]:
    state = streams.tests.get(test_id)
    verdict = None if state is None else state.verdict
    return {} if verdict is None else dict(verdict["samples"])


async def test_a_restarted_worker_holds_every_value_of_a_changelogs_last_batch(
    streams: Streams,
) -> None:
    partition, tests = same_partition_tests(streams.settings.kafka_topic_partitions, 5)
    first = streams.start_worker(name="first")
    await streams.produce(ABTEST_COMMANDS_TOPIC, [create_test(t, min_samples=10**9) for t in tests])
    await eventually(lambda: all(streams.tests.get(t) for t in tests), "the tests created")
    # One message (the SDK packs a partition's events): the worker folds it in one batch and
    # writes the five tests' values and the outcomes mark back to back.
    outcomes = [
        outcome(t, arm, n=i)
        for t in tests
        for arm in ("control", "treatment")
        for i in range(PER_ARM)
    ]
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, outcomes)
    full = {"control": PER_ARM, "treatment": PER_ARM}
    await eventually(lambda: all(assigned(streams, t) == full for t in tests), "outcomes counted")
    changelog = changelog_topic(streams.settings, ABTEST_TABLE)
    ends = await streams.reported_and_true_ends(changelog, [partition])
    reported, true_end = ends[partition]
    # The embedded broker reports the first offset of the last record batch (plus one): the
    # records after it are what this test needs the tail read to recover.
    assert reported < true_end, f"the broker reported the exact end {true_end}: nothing to test"

    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    streams.start_worker(name="second")
    # A stop is applied by the commands agent to the value the new worker recovered; no
    # outcome arrives that would make the outcomes agent re-read its partition.
    await streams.produce(ABTEST_COMMANDS_TOPIC, [stop_test(t) for t in tests])

    def stopped() -> bool:
        states = [streams.tests.get(t) for t in tests]
        return all(s is not None and s.status == "stopped" for s in states)

    await eventually(stopped, "the tests stopped", 60)
    # A finished test keeps no arm statistics: its verdict holds the samples it was judged on.
    assert {t: sampled(streams, t) for t in tests} == {t: full for t in tests}
