"""The experiment router an inference service embeds: which model serves a unit right now.

::

    async with ExperimentRouter(settings) as router:
        route = router.route(user_id, model_name="tone-formal")  # Route(model_id, test_id, arm_id)
        ...serve route.model_id...
        await router.record_outcome(route, request_id=request_id, success=True)

It follows the A/B command and verdict topics and the model events topic from their beginning
(a group-less consumer, the reading code of :mod:`tonebridge.client.watch`), keeps what they
say in a :class:`~tonebridge.client.routing.RoutingTable` and routes from memory: ``route``
does no I/O. Entering (``start``) returns once everything already on the topics is read;
``sync()`` waits likewise for what is on them now. ``record_outcome`` sends the
InferenceOutcome with the route's test and arm through the one
:class:`~tonebridge.client.publisher.Publisher`. :class:`SyncExperimentRouter` is the same on a
background event loop, for code without one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from tonebridge.client.lifecycle import AsyncClient, SyncClient
from tonebridge.client.publisher import ProducerPublisher, Publisher
from tonebridge.client.routing import Route, RoutingTable
from tonebridge.client.watch import assign, read_items, seek
from tonebridge.errors import RouteError
from tonebridge.settings import Settings
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC, inference_outcome
from tonebridge.topics.models import MODEL_EVENTS_TOPIC

__all__ = ["ExperimentRouter", "Route", "SyncExperimentRouter"]

FOLLOWED = (ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC, MODEL_EVENTS_TOPIC)


class ExperimentRouter(AsyncClient):
    """Routes units to A/B arms or production; ``async with ExperimentRouter(settings)``.

    ``publisher`` sends the outcomes (by default a :class:`ProducerPublisher` of its own,
    started and closed with the router).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        alias: str = "production",
        publisher: Publisher | None = None,
        client_id: str = "tonebridge-router",
    ) -> None:
        self.settings = settings
        self.table = RoutingTable(alias)
        self._client_id = client_id
        self._own: ProducerPublisher | None = None
        if publisher is None:
            publisher = self._own = ProducerPublisher(settings)
        self._publisher = publisher
        self._specs = {spec.name(settings): spec for spec in FOLLOWED}
        self._consumer: AIOKafkaConsumer | None = None
        self._follower: asyncio.Task[None] | None = None
        self._read: dict[TopicPartition, int] = {}  # next offset to apply, per partition
        self._progress = asyncio.Event()

    def route(
        self, unit_id: str, *, model_name: str | None = None, test_id: str | None = None
    ) -> Route:
        """The model for ``unit_id`` by model name or by test id; see :mod:`.routing`.
        Raises RouteError when nothing seen so far names a model for it."""
        return self.table.route(unit_id, model_name=model_name, test_id=test_id)

    async def record_outcome(
        self,
        route: Route,
        *,
        request_id: str,
        success: bool | None = None,
        metrics: Mapping[str, float] | None = None,
        transformation_type: str | None = None,
    ) -> None:
        """Send how the request served by ``route`` went; returns once the broker has it."""
        outcome = inference_outcome(
            request_id=request_id,
            model_id=route.model_id,
            ab_test_id=route.test_id,
            arm_id=route.arm_id,
            transformation_type=transformation_type,
            success=success,
            metrics=metrics,
        )
        await self._publisher.publish(INFERENCE_OUTCOMES_TOPIC, outcome)

    async def start(self) -> None:
        """Connect, read the topics from their beginning up to now, then follow them (waits
        for topics that do not exist yet, as :func:`~tonebridge.client.watch.watch_models`)."""
        self._consumer = AIOKafkaConsumer(
            **client_kwargs(self.settings, self._client_id),
            group_id=None,
            enable_auto_commit=False,
        )
        await self._consumer.start()
        try:
            await self._position(self._consumer)
            if self._own is not None:
                await self._own.start()
            self._follower = asyncio.create_task(self._follow(self._consumer), name="router")
            await self.sync()
        except BaseException:
            await self.close()
            raise

    async def sync(self) -> None:
        """Wait until every event on the followed topics now has been applied."""
        assert self._consumer is not None  # noqa: S101 - start() ran
        ends = await self._consumer.end_offsets(list(self._read))
        while any(self._read[tp] < end for tp, end in ends.items()):
            self._progress.clear()
            await self._wait_for_progress()

    async def close(self) -> None:
        """Stop following and disconnect; closes the router's own publisher (flushing it)."""
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._follower
        try:
            if self._own is not None:
                await self._own.close()
        finally:
            if self._consumer is not None:
                await self._consumer.stop()

    async def _position(self, consumer: AIOKafkaConsumer) -> None:
        for tp in await assign(consumer, self.settings, list(self._specs)):
            await seek(consumer, tp, {}, from_beginning=True)
            self._read[tp] = await consumer.position(tp)

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        async for message in consumer:
            for item in read_items(message, self._specs[message.topic]):
                self.table.apply(item.name, item.record)
            self._read[TopicPartition(message.topic, message.partition)] = message.offset + 1
            self._progress.set()

    async def _wait_for_progress(self) -> None:
        """Wait for the follower to apply more; raise if it stopped."""
        assert self._follower is not None  # noqa: S101 - start() ran
        waiter = asyncio.ensure_future(self._progress.wait())
        try:
            await asyncio.wait({waiter, self._follower}, return_when="FIRST_COMPLETED")
        finally:
            waiter.cancel()
        if self._follower.done():
            msg = "the router stopped following its topics"
            raise RouteError(msg) from _error(self._follower)


class SyncExperimentRouter(SyncClient):
    """:class:`ExperimentRouter` for code without an event loop; ``with ... as router:``."""

    def __init__(self, settings: Settings, *, alias: str = "production") -> None:
        self.router = ExperimentRouter(settings, alias=alias)
        super().__init__(self.router, "tonebridge-router")

    def route(
        self, unit_id: str, *, model_name: str | None = None, test_id: str | None = None
    ) -> Route:
        """As :meth:`ExperimentRouter.route` (from memory, safe from any thread)."""
        return self.router.route(unit_id, model_name=model_name, test_id=test_id)

    def record_outcome(
        self,
        route: Route,
        *,
        request_id: str,
        success: bool | None = None,
        metrics: Mapping[str, float] | None = None,
        transformation_type: str | None = None,
    ) -> None:
        """As :meth:`ExperimentRouter.record_outcome`: blocks until the broker has it."""
        self._call(
            self.router.record_outcome(
                route,
                request_id=request_id,
                success=success,
                metrics=metrics,
                transformation_type=transformation_type,
            )
        )

    def sync(self) -> None:
        """Block until every event on the followed topics now has been applied."""
        self._call(self.router.sync())


def _error(task: asyncio.Task[None]) -> BaseException | None:
    return None if task.cancelled() else task.exception()
