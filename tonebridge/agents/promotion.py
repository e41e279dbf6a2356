"""The ``promote_models`` agent: close the loop from a registered model to production.

It reads the model events topic (ModelRegistered; ModelChanged is ignored) and the A/B
verdicts topic, asks :mod:`tonebridge.decisions.promotion` what to do, and sends the
result: an ABTestCommand creating a promotion test (also kept in ``ab_tests``, so the API
lists it and the verdict completes it), or a ModelCommand deploying a winner. The only state
it needs, the name's production model, is read from the database when a model registers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from tonebridge.agents.runtime.consume import Batching, Fatal, consume, exit_process
from tonebridge.agents.runtime.outbox import send_dead_letters
from tonebridge.client.publisher import Publisher
from tonebridge.decisions.promotion import (
    CONTROL,
    TREATMENT,
    Deploy,
    PromotionPolicy,
    Skip,
    StartTest,
    Step,
    is_promotion_test,
    on_registered,
    on_verdict,
)
from tonebridge.errors import ConflictError, IntegrityError, NotFoundError
from tonebridge.observability.logs import bound
from tonebridge.settings import Settings
from tonebridge.topics.abtests import AB_TEST_VERDICT, ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC
from tonebridge.topics.messages import Item, Message, Origin
from tonebridge.topics.models import (
    MODEL_COMMANDS_TOPIC,
    MODEL_EVENTS_TOPIC,
    MODEL_REGISTERED,
)
from tonebridge.topics.spec import read_merged

log = logging.getLogger(__name__)

SOURCES = (MODEL_EVENTS_TOPIC, ABTEST_VERDICTS_TOPIC)  # read as one stream


class ProductionLookup(Protocol):
    async def production_id(self, name: str) -> str | None:
        """The id of the model that serves ``name`` now, if any."""


class PromotionTests(Protocol):
    async def record(self, name: str, command: Mapping[str, Any]) -> None:
        """Keep the test a create command starts for model ``name`` (idempotent)."""

    async def running(self, name: str) -> str | None:
        """The id of the promotion test still running for model ``name``, if any."""


@dataclass(frozen=True)
class PromotionContext:
    policy: PromotionPolicy
    outbox: Publisher
    production: ProductionLookup
    tests: PromotionTests | None = None


async def promote_batch(ctx: PromotionContext, batch: Sequence[Message]) -> None:
    """Act on a batch of messages, in order (what the agent's runner hands over)."""
    for origin, payload in batch:
        await promote_message(ctx, origin, payload)


async def promote_message(ctx: PromotionContext, origin: Origin, payload: Any) -> None:
    """Act on one message of model events or A/B verdicts."""
    intake = read_merged(payload, SOURCES)
    await send_dead_letters(ctx.outbox, [(origin, reject) for reject in intake.rejects])
    for item in intake.items:
        await carry_out(ctx, item, await decide(ctx, item))


async def decide(ctx: PromotionContext, item: Item) -> Step:
    if item.name == MODEL_REGISTERED:
        name = str(item.record["name"])
        production = await ctx.production.production_id(name)
        running = await ctx.tests.running(name) if ctx.tests is not None else None
        return on_registered(ctx.policy, item.record, production, running)
    if item.name == AB_TEST_VERDICT:
        return on_verdict(item.record)
    return Skip(f"{item.name} needs nothing")


async def carry_out(ctx: PromotionContext, item: Item, step: Step) -> None:
    if isinstance(step, StartTest):
        if step.stop is not None:
            await ctx.outbox.publish(ABTEST_COMMANDS_TOPIC, step.stop)
            log.info(
                "promotion: A/B test %s stopped (%s)", step.stop["test_id"], step.stop["reason"]
            )
        if ctx.tests is not None:
            await ctx.tests.record(str(item.record["name"]), step.command)
        await ctx.outbox.publish(ABTEST_COMMANDS_TOPIC, step.command)
        log.info("promotion: A/B test %s started", step.command["test_id"])
    elif isinstance(step, Deploy):
        await ctx.outbox.publish(MODEL_COMMANDS_TOPIC, step.command)
        log.info("promotion: deploy %s (%s)", step.command["model_id"], step.command["reason"])
    elif step.reason:
        log.info("promotion: %s", step.reason)


def register_promotion(
    worker: Any,
    settings: Settings,
    ctx: PromotionContext,
    batching: Batching | None = None,
    fatal: Fatal = exit_process,
) -> None:
    """Add ``promote_models`` to a worker built by :func:`tonebridge.agents.app.create_app`."""
    app = worker.app
    names = [spec.name(settings) for spec in (MODEL_EVENTS_TOPIC, ABTEST_VERDICTS_TOPIC)]
    partitions = MODEL_EVENTS_TOPIC.partition_count(settings)
    source = app.topic(*names, key_type=bytes, value_type=bytes, partitions=partitions)
    declare = getattr(ctx.outbox, "topic", None)
    if declare is not None:  # the faust outbox declares the topics it sends to at start
        declare(ABTEST_COMMANDS_TOPIC)

    handle = worker.metrics.counted("promote_models", partial(promote_batch, ctx))

    @app.agent(source, name="promote_models")  # type: ignore[untyped-decorator]
    async def promote_models(stream: Any) -> None:
        with bound(agent="promote_models"):
            await consume(stream, handle, batching or Batching(), fatal)

    worker.agents["promote_models"] = promote_models


# --- database adapters -----------------------------------------------------------------


class DatabaseProduction:
    """The production model of a name, from the ``models`` table."""

    def __init__(self, models: Any) -> None:  # a storage.ModelRepository
        self._models = models

    async def production_id(self, name: str) -> str | None:
        model = await self._models.get_production(name)
        return None if model is None else str(model.id)


# What a promotion test's row keeps of its create command (the limits included).
_CONFIG: tuple[str, ...] = ("alpha", "min_samples", "control_arm", "reason", "max_samples")
_CONFIG += ("max_duration_seconds", "idle_timeout_seconds")


class DatabasePromotionTests:
    """Promotion tests as ``ab_tests`` rows; the verdict's consumer completes them."""

    def __init__(self, tests: Any) -> None:  # a storage.ABTestRepository
        self._tests = tests

    async def running(self, name: str) -> str | None:
        for test in await self._tests.list(limit=1000):
            open_ = test.status in ("active", "paused")
            if open_ and is_promotion_test(test.id) and test.config.get("model_name") == name:
                return str(test.id)
        return None

    async def record(self, name: str, command: Mapping[str, Any]) -> None:
        arms = {arm["arm_id"]: arm for arm in command["arms"]}
        try:
            await self._tests.create(
                test_id=command["test_id"],
                name=command["name"],
                model_a_id=arms[CONTROL]["model_id"],
                model_b_id=arms[TREATMENT]["model_id"],
                arms=[dict(arm) for arm in command["arms"]],
                success_metrics=[dict(metric) for metric in command["metrics"]],
                config={
                    "model_name": name,
                    **{k: command.get(k) for k in _CONFIG},
                },
            )
        except (NotFoundError, ConflictError, IntegrityError) as exc:
            # The topic stays the record of truth; a missing row only hides the test from lists.
            log.warning("promotion test %s not stored: %s", command["test_id"], exc)
