"""The ``tally_feedback`` agent: rolling feedback statistics per model, and retraining triggers.

Per batch of messages (each one event or an EventBatch): decode, reduce each event to a
sample, fold each model's samples into a working copy of its value message by message
(evaluating the retraining policies after each), then send the training commands and dead
letters, and store each changed value once. Persisting the events to the database is a
separate consumer (:mod:`tonebridge.agents.feedback_sink`), so a slow database does not hold
statistics back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tonebridge.agents import model_feedback
from tonebridge.agents.dedup import SeenBatch
from tonebridge.agents.intake import (
    Item,
    Message,
    Origin,
    Reject,
    Rejected,
    read_message,
    require_partition,
    screen,
)
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


@dataclass
class Tally:
    """A batch folded into working copies: what to send and what to store."""

    states: dict[str, ModelFeedback] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    # Samples waiting to be folded into windows at the end of the batch (per model).
    unsettled: dict[str, list[Sample]] = field(default_factory=dict)


def tally(
    lookup: Callable[[str], ModelFeedback | None],
    batch: Sequence[Message],
    partitions: int,
    policies: Sequence[Policy],
    seen: SeenBatch | None = None,
) -> Tally:
    """Fold a batch of feedback messages (pure given ``lookup`` of the stored values).

    Counts and policies advance message by message, so a trigger fires on the same message
    however the stream was batched (its command id depends on it). Windows are folded once
    per model at the end, unless a rate policy must see them after every message.
    With ``seen``, an event whose id came before is skipped (:mod:`tonebridge.agents.dedup`).
    """
    out = Tally()
    for origin, payload in batch:
        intake = read_message(payload, (FEEDBACK_EVENT,))
        items = intake.items if seen is None else seen.fresh(origin, intake.items)
        grouped, invalid = samples_by_model(items, origin, partitions)
        out.rejected += [(origin, r) for r in (*intake.rejects, *invalid)]
        source = source_id(origin.topic, origin.partition)
        for model_id, samples in grouped.items():
            _tally_model(out, lookup, model_id, samples, origin, source, policies)
    for model_id, samples in out.unsettled.items():
        out.states[model_id] = model_feedback.settle(out.states[model_id], samples)
    return out


def _tally_model(
    out: Tally,
    lookup: Callable[[str], ModelFeedback | None],
    model_id: str,
    samples: list[Sample],
    origin: Origin,
    source: str,
    policies: Sequence[Policy],
) -> None:
    state = out.states.get(model_id) or lookup(model_id) or ModelFeedback()
    eager = model_feedback.needs_windows(policies, model_id)
    folded = model_feedback.fold(state, samples, source, origin.offset, windows_too=eager)
    if folded is state:
        return  # applied before a crash: replayed
    if not eager:
        out.unsettled.setdefault(model_id, []).extend(samples)
    folded, fired = model_feedback.apply_policies(model_id, folded, policies, with_windows=eager)
    for f in fired:
        when = datetime.fromtimestamp(f.at_ms / 1000, tz=UTC)
        out.commands.append(training_command(f.trigger, f.policy, when, f.since_ms))
    out.states[model_id] = folded
    out.partitions[model_id] = origin.partition


async def tally_batch(ctx: FeedbackContext, batch: Sequence[Message]) -> None:
    """Apply a batch of feedback messages exactly once to the statistics of their models."""
    seen = ctx.table.seen.batch()
    result = tally(ctx.table.get, batch, ctx.table.partitions, ctx.policies, seen=seen)
    await send_dead_letters(ctx.outbox, result.rejected)
    for command in result.commands:
        await ctx.outbox.send(TRAINING_COMMANDS_TOPIC, command)
    for model_id, state in result.states.items():
        await ctx.table.put(model_id, state, result.partitions[model_id])
    await ctx.table.store_seen(seen)
