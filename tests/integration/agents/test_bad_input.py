"""Bad records between good ones: each lands on the dead-letter topic, nothing else is lost."""

from __future__ import annotations

import pytest

from tests.integration.agents.conftest import Streams, eventually
from tests.support.agents import create_test, encoded, feedback, outcome
from tests.support.kafka import read_events
from tonebridge.avro.codec import encode_batch
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.spec import partition_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def count(streams: Streams, model_id: str) -> int:
    state = streams.feedback.get(model_id)
    return 0 if state is None else state.overall.all_time.count


def assigned(streams: Streams, test_id: str) -> int:
    state = streams.tests.get(test_id)
    return 0 if state is None else sum(s.assigned for s in state.stats.arms.values())


async def test_bad_events_are_dead_lettered_and_the_good_ones_counted(streams: Streams) -> None:
    await streams.produce(ABTEST_COMMANDS_TOPIC, [create_test("ab-1", min_samples=10**6)])
    await streams.produce(FEEDBACK_TOPIC, [feedback(n=n) for n in range(50)])
    # An EventBatch with a rating of 9 and a garbage item between good events ...
    good = [FEEDBACK_TOPIC.encode(feedback(n=n)).value for n in range(50, 53)]
    key, rated_nine = encoded(FEEDBACK_TOPIC, [{**feedback(n=98), "rating": 9}])
    batch = encode_batch([good[0], rated_nine, good[1], b"\xc3\x01not-an-event", good[2]])
    await streams.produce_raw(FEEDBACK_TOPIC, key, batch)
    # ... a message that is no Avro at all, and outcomes for an unknown test and arm.
    await streams.produce_raw(FEEDBACK_TOPIC, key, b"{'rating': 5}")
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, [outcome("ab-1", n=n) for n in range(20)])
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, [outcome("ab-404", n=1)])
    await streams.produce(INFERENCE_OUTCOMES_TOPIC, [outcome("ab-1", "ghost", n=2)])

    streams.start_worker()
    await eventually(lambda: count(streams, "model-a") == 53, "the good feedback counted")
    await eventually(lambda: assigned(streams, "ab-1") == 20, "the good outcomes counted")
    letters = await read_events(streams.settings, DEADLETTER_TOPIC, at_least=5, timeout_s=30)
    by_reason = {letter.event.record["reason"]: letter.event.record for letter in letters}
    assert len(letters) == 5

    feedback_partition = partition_for(key, streams.settings.kafka_topic_partitions)
    topic = FEEDBACK_TOPIC.name(streams.settings)
    [nine] = [r for reason, r in by_reason.items() if "rating" in reason]
    assert nine["reason"].startswith("event 1 of the message")
    assert (nine["source_topic"], nine["source_partition"]) == (topic, feedback_partition)
    assert nine["error_type"] == "InvalidEventError" and nine["payload"] == rated_nine
    [garbage] = [r for reason, r in by_reason.items() if reason.startswith("event 3")]
    assert garbage["error_type"] == "UnknownSchemaError"
    assert garbage["source_offset"] == nine["source_offset"]
    [whole] = [r for r in by_reason.values() if r["payload"] == b"{'rating': 5}"]
    assert whole["reason"].startswith("message:") and whole["error_type"] == "DecodeError"
    assert whole["source_offset"] == nine["source_offset"] + 1
    assert any("unknown A/B test 'ab-404'" in reason for reason in by_reason)
    assert any("'ghost' is not an arm" in reason for reason in by_reason)

    # The worker is still at work.
    await streams.produce(FEEDBACK_TOPIC, [feedback(n=n) for n in range(200, 210)])
    await eventually(lambda: count(streams, "model-a") == 63, "feedback after the bad input")
