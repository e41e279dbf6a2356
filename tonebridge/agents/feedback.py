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
from datetime import UTC, datetime, timedelta
from typing import Any

from tonebridge import rules
from tonebridge.agents.runtime.dedup import SeenBatch
from tonebridge.agents.runtime.outbox import send_dead_letters
from tonebridge.agents.runtime.tables import ExactTable
from tonebridge.client.publisher import Publisher
from tonebridge.decisions import model_feedback
from tonebridge.decisions.model_feedback import ModelFeedback, Sample
from tonebridge.decisions.retraining import Policy, trigger_command
from tonebridge.decisions.watermarks import source_id
from tonebridge.errors import InvalidEventError
from tonebridge.settings import Settings
from tonebridge.stats.feedback import (
    FeedbackSample,
    sample_from_record,
    samples_from_millis,
    samples_from_records,
)
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.messages import (
    Item,
    Message,
    Origin,
    Reject,
    Rejected,
    screen,
)
from tonebridge.topics.spec import require_partition
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC


@dataclass(frozen=True)
class Limits:
    """What the agent accepts and keeps, whatever clients send (settings)."""

    max_future: timedelta = timedelta(minutes=5)  # EVENT_TIME_MAX_FUTURE_S
    max_types: int = model_feedback.MAX_TYPES  # FEEDBACK_MAX_TRANSFORMATION_TYPES

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            timedelta(seconds=settings.event_time_max_future_s),
            settings.feedback_max_transformation_types,
        )


@dataclass(frozen=True)
class FeedbackContext:
    table: ExactTable[ModelFeedback]
    outbox: Publisher
    policies: tuple[Policy, ...] = ()
    limits: Limits = Limits()


def screened(
    items: Sequence[Item], origin: Origin, partitions: int, now: datetime, limits: Limits
) -> tuple[list[tuple[Item, FeedbackSample]], list[Reject]]:
    """The valid events with their samples; rejects for the invalid ones.

    Event times are judged against the record's timestamp (the project's input rules). The
    whole message is checked at once first; each event alone only if one of them is bad.
    """
    reference = rules.reference_time(origin.timestamp_ms, now)
    records = [item.record for item in items]
    if rules.feedback_fits(records, reference, limits.max_future):
        try:
            for model_id in {record["model_id"] for record in records}:
                require_partition(model_id, origin, partitions)
            return list(zip(items, samples_from_records(records), strict=True)), []
        except InvalidEventError:
            pass  # an event is bad: find which, and why
    return _screened_each(items, origin, partitions, reference, limits)


def screened_millis(
    payload: Any, origin: Origin, partitions: int, now: datetime, limits: Limits
) -> list[tuple[Item, FeedbackSample]] | None:
    """Every event of a message with its sample, if the message is an EventBatch whose events
    all pass (read with their times in epoch ms: cheaper); None if not, or if one may not
    (then :meth:`TopicSpec.read` it and apply :func:`screened`, which says which and why)."""
    items = FEEDBACK_TOPIC.read_millis(payload)
    if items is None:
        return None
    reference = rules.reference_time(origin.timestamp_ms, now)
    records = [item.record for item in items]
    if not rules.feedback_fits(records, reference, limits.max_future, millis=True):
        return None
    try:
        for model_id in {record["model_id"] for record in records}:
            require_partition(model_id, origin, partitions)
        return list(zip(items, samples_from_millis(records), strict=True))
    except InvalidEventError:
        return None


def _screened_each(
    items: Sequence[Item], origin: Origin, partitions: int, reference: datetime, limits: Limits
) -> tuple[list[tuple[Item, FeedbackSample]], list[Reject]]:
    good: list[tuple[Item, FeedbackSample]] = []

    def check(item: Item) -> None:
        record = item.record
        rules.check_feedback(record, reference, limits.max_future)
        require_partition(record["model_id"], origin, partitions)
        good.append((item, sample_from_record(record)))  # raises for a rating of 9, ...

    _, rejects = screen(items, check)
    return good, rejects


def samples_by_model(
    items: Sequence[Item],
    origin: Origin,
    partitions: int,
    now: datetime | None = None,
    limits: Limits = Limits(),
    seen: SeenBatch | None = None,
) -> tuple[dict[str, list[Sample]], list[Reject]]:
    """Each good event's sample, grouped by model; rejects for the invalid ones.

    With ``seen``, a valid event whose id came before is skipped. Only valid events count as
    seen: an invalid one is dead-lettered, and a corrected retry with its id is counted.
    """
    good, rejects = screened(items, origin, partitions, now or datetime.now(UTC), limits)
    return _grouped(good, origin, seen), rejects


def _grouped(
    good: list[tuple[Item, FeedbackSample]], origin: Origin, seen: SeenBatch | None
) -> dict[str, list[Sample]]:
    """The samples of ``good`` by model, but those of events ``seen`` before."""
    if seen is not None:
        fresh = seen.fresh(origin, [item for item, _ in good])
        if len(fresh) < len(good):  # some were seen before (the common case: none)
            kept = {id(item) for item in fresh}
            good = [(item, sample) for item, sample in good if id(item) in kept]
    grouped: dict[str, list[Sample]] = defaultdict(list)
    for item, sample in good:
        grouped[item.record["model_id"]].append((item.record["transformation_type"], sample))
    return grouped


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
    limits: Limits = Limits(),
    now: datetime | None = None,
    seen: SeenBatch | None = None,
) -> Tally:
    """Fold a batch of feedback messages (pure given ``lookup`` of the stored values).

    Counts and policies advance message by message, so a trigger fires on the same message
    however the stream was batched (its command id depends on it). Windows are folded once
    per model at the end, unless a rate policy must see them after every message.
    With ``seen``, an event whose id came before is skipped
    (:mod:`tonebridge.agents.runtime.dedup`).
    """
    out, clock = Tally(), now or datetime.now(UTC)
    for origin, payload in batch:
        good = screened_millis(payload, origin, partitions, clock, limits)
        if good is not None:  # the common case: a batch of valid events
            grouped = _grouped(good, origin, seen)
        else:
            intake = FEEDBACK_TOPIC.read(payload)
            grouped, bad = samples_by_model(intake.items, origin, partitions, clock, limits, seen)
            out.rejected += [(origin, r) for r in (*intake.rejects, *bad)]
        source = source_id(origin.topic, origin.partition)
        for model_id, samples in grouped.items():
            _tally_model(out, lookup, model_id, samples, origin, source, policies, limits)
    for model_id, samples in out.unsettled.items():
        state = out.states[model_id]
        out.states[model_id] = model_feedback.settle(state, samples, limits.max_types)
    return out


def _tally_model(
    out: Tally,
    lookup: Callable[[str], ModelFeedback | None],
    model_id: str,
    samples: list[Sample],
    origin: Origin,
    source: str,
    policies: Sequence[Policy],
    limits: Limits,
) -> None:
    state = out.states.get(model_id) or lookup(model_id) or ModelFeedback()
    eager = model_feedback.needs_windows(policies, model_id)
    folded = model_feedback.fold(
        state, samples, source, origin.offset, windows_too=eager, max_types=limits.max_types
    )
    if folded is state:
        return  # applied before a crash: replayed
    if not eager:
        out.unsettled.setdefault(model_id, []).extend(samples)
    folded, fired = model_feedback.apply_policies(model_id, folded, policies, with_windows=eager)
    for f in fired:
        when = datetime.fromtimestamp(f.at_ms / 1000, tz=UTC)
        out.commands.append(trigger_command(f.trigger, f.policy, when, f.since_ms))
    out.states[model_id] = folded
    out.partitions[model_id] = origin.partition


async def tally_batch(ctx: FeedbackContext, batch: Sequence[Message]) -> None:
    """Apply a batch of feedback messages exactly once to the statistics of their models."""
    seen = ctx.table.seen.batch()
    result = tally(ctx.table.get, batch, ctx.table.partitions, ctx.policies, ctx.limits, seen=seen)
    await send_dead_letters(ctx.outbox, result.rejected)
    for command in result.commands:
        await ctx.outbox.publish(TRAINING_COMMANDS_TOPIC, command)
    for model_id, state in result.states.items():
        await ctx.table.put(model_id, state, result.partitions[model_id])
    await ctx.table.store_seen(seen)
