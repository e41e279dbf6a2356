"""The ``tally_feedback`` agent: rolling feedback statistics per model, and retraining triggers.

Per message (one event or an EventBatch): decode, reduce each event to a sample, fold each
model's samples into its table value once, evaluate the retraining policies, send the
resulting training commands and dead letters, then store the value. Persisting the events to
the database is a separate consumer (:mod:`tonebridge.agents.feedback_sink`), so a slow
database does not hold statistics back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tonebridge.agents import model_feedback
from tonebridge.agents.intake import Item, Origin, Reject, read_message, require_partition, screen
from tonebridge.agents.model_feedback import ModelFeedback, Sample
from tonebridge.agents.outbox import Outbox, send_dead_letters
from tonebridge.agents.policies import Policy, training_command
from tonebridge.agents.tables import ExactTable
from tonebridge.agents.watermarks import source_id
from tonebridge.stats.feedback import sample_from_record
from tonebridge.topics.feedback import FEEDBACK_EVENT
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC


@dataclass(frozen=True)
class FeedbackContext:
    table: ExactTable[ModelFeedback]
    outbox: Outbox
    policies: tuple[Policy, ...] = ()


def samples_by_model(
    items: Sequence[Item], origin: Origin, partitions: int
) -> tuple[dict[str, list[Sample]], list[Reject]]:
    """Each good event's sample, grouped by model; rejects for the invalid ones."""
    grouped: dict[str, list[Sample]] = defaultdict(list)

    def check(item: Item) -> None:
        record = item.record
        require_partition(record["model_id"], origin, partitions)
        sample = sample_from_record(record)  # raises InvalidEventError (rating 9, ...)
        grouped[record["model_id"]].append((record["transformation_type"], sample))

    _, rejects = screen(items, check)
    return grouped, rejects


async def tally_message(ctx: FeedbackContext, origin: Origin, payload: Any) -> None:
    """Apply one feedback message exactly once to the statistics of its models."""
    intake = read_message(payload, (FEEDBACK_EVENT,))
    grouped, invalid = samples_by_model(intake.items, origin, ctx.table.partitions)
    await send_dead_letters(ctx.outbox, origin, [*intake.rejects, *invalid])
    source = source_id(origin.topic, origin.partition)
    for model_id, samples in grouped.items():
        state = ctx.table.get(model_id) or ModelFeedback()
        folded = model_feedback.fold(state, samples, source, origin.offset)
        if folded is state:
            continue  # applied before a crash: replayed
        folded, fired = model_feedback.apply_policies(model_id, folded, ctx.policies)
        for f in fired:
            when = datetime.fromtimestamp(f.at_ms / 1000, tz=UTC)
            command = training_command(f.trigger, f.policy, when, f.since_ms)
            await ctx.outbox.send(TRAINING_COMMANDS_TOPIC, command)
        await ctx.table.put(model_id, folded, origin.partition)
