from __future__ import annotations

from typing import Any, cast

from tests.agents.conftest import eventually
from tests.support.agents import MemoryOutbox, encoded, feedback
from tonebridge.agents.app import Worker
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.spec import partition_for
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC


def count(worker: Worker, model_id: str) -> int:
    state = worker.feedback.table.get(model_id)
    return 0 if state is None else state.overall.all_time.count


async def put(ctx: Any, records: list[dict[str, Any]]) -> None:
    key, value = encoded(FEEDBACK_TOPIC, records)
    await ctx.put(value, key=key, partition=partition_for(key, 4))


async def test_batches_are_tallied_and_a_bad_event_in_the_middle_is_dead_lettered(
    worker: Worker,
) -> None:
    outbox = cast(MemoryOutbox, worker.feedback.outbox)
    async with worker.agents["tally_feedback"].test_context() as ctx:
        await put(ctx, [feedback(n=0), feedback(n=1, rating=9), feedback(n=2)])
        await put(ctx, [feedback(n=3, kind="casual")])
        await eventually(lambda: count(worker, "model-a") == 3)
    summary = worker.feedback.table.get("model-a")
    assert summary is not None and set(summary.by_type) == {"formal", "casual"}
    [letter] = outbox.on(DEADLETTER_TOPIC)
    assert (letter["source_offset"], letter["error_type"]) == (0, "InvalidEventError")
    assert letter["source_partition"] == partition_for(b"model-a", 4)
    assert "event 1 of the message" in letter["reason"] and "rating" in letter["reason"]


async def test_a_redelivered_message_is_counted_once(worker: Worker) -> None:
    async with worker.agents["tally_feedback"].test_context() as ctx:
        await put(ctx, [feedback(n=0), feedback(n=1)])
        await eventually(lambda: count(worker, "model-a") == 2)
        ctx.sent_offset = 0  # the same offset again, as after a crash before the commit
        await put(ctx, [feedback(n=0), feedback(n=1)])
        await put(ctx, [feedback(n=2)])
        await eventually(lambda: count(worker, "model-a") == 3)


async def test_enough_corrections_send_one_training_command(worker: Worker) -> None:
    outbox = cast(MemoryOutbox, worker.feedback.outbox)
    async with worker.agents["tally_feedback"].test_context() as ctx:
        for n in range(4):
            await put(ctx, [feedback(n=n, corrected="Send it soon, please.")])
        await eventually(lambda: count(worker, "model-a") == 4)
    [command] = outbox.on(TRAINING_COMMANDS_TOPIC)
    assert command["model_id"] == "model-a"
    assert command["requested_by"] == "policy:fix"
    assert command["event_time"] == feedback(n=2)["event_time"]  # the third correction's
