"""The stream worker (``tonebridge worker``): one faust app, built from :class:`Settings`.

Tables live in memory and are recovered from their changelog topics, which are also what
:mod:`tonebridge.agents.views` reads for the HTTP API. Roles let a deployment split the
statistics agents and the database sink over processes; by default a worker runs all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import faust

from tonebridge.agents.abtests import ABContext, VerdictStore, end_tests_by_time, judge_batch
from tonebridge.agents.feedback import FeedbackContext, Limits, tally_batch
from tonebridge.agents.feedback_sink import FeedbackSink, FeedbackWriter
from tonebridge.agents.runtime.consume import (
    BatchHandler,
    Batching,
    Fatal,
    InSequence,
    consume,
    exit_process,
    in_sequence,
)
from tonebridge.agents.runtime.dedup import Bounds
from tonebridge.agents.runtime.fetching import set_fetch_max_wait
from tonebridge.agents.runtime.metrics import WorkerMetrics
from tonebridge.agents.runtime.outbox import FaustOutbox
from tonebridge.agents.runtime.pending_commands import PendingCommands
from tonebridge.agents.runtime.recovery import TailReader, on_recovered
from tonebridge.agents.runtime.sequencing import BrokerReader, Sequencer
from tonebridge.agents.runtime.tables import ExactTable
from tonebridge.client.publisher import Publisher
from tonebridge.decisions.abtest_state import ABTestState
from tonebridge.decisions.model_feedback import ModelFeedback
from tonebridge.decisions.retraining import Policy
from tonebridge.observability.logs import bound
from tonebridge.observability.server import HEARTBEAT_EVERY_S, Heartbeat, serve
from tonebridge.observability.server import stop as stop_serving
from tonebridge.retry import retrying
from tonebridge.settings import Settings
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.deadletter import DEADLETTER_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.models import MODEL_COMMANDS_TOPIC
from tonebridge.topics.spec import TopicSpec
from tonebridge.topics.tables import ABTEST_TABLE, FEEDBACK_TABLE, app_id
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

log = logging.getLogger(__name__)
OUTPUTS = (DEADLETTER_TOPIC, ABTEST_VERDICTS_TOPIC, MODEL_COMMANDS_TOPIC, TRAINING_COMMANDS_TOPIC)


@dataclass(frozen=True)
class Roles:
    stats: bool = True  # tally_feedback
    abtests: bool = True  # define_ab_tests, judge_ab_tests
    sink: bool = True  # persist_feedback
    promotion: bool = True  # promote_models (registered by agents.worker: it needs the database)


ALL_ROLES = Roles()


@dataclass
class Worker:
    """The faust app and what its agents use (tests reach the contexts through it)."""

    app: Any
    feedback: FeedbackContext
    abtests: ABContext
    sink: FeedbackSink | None = None
    agents: dict[str, Any] = field(default_factory=dict)
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)


def faust_settings(settings: Settings) -> dict[str, Any]:
    """faust configuration derived from tonebridge settings."""
    session = settings.kafka_session_timeout_s
    return {
        "broker": "kafka://" + settings.bootstrap_servers.replace(",", ";"),
        "broker_credentials": _credentials(settings),
        "store": "memory://",
        "datadir": str(settings.data_dir / "worker"),
        "web_enabled": False,
        "autodiscover": False,
        "topic_partitions": settings.kafka_topic_partitions,
        "topic_replication_factor": settings.kafka_replication_factor,
        "topic_disable_leader": True,
        "table_standby_replicas": 0,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": session,
        "broker_heartbeat_interval": min(1.0, session / 3),
        "broker_rebalance_timeout": settings.kafka_rebalance_timeout_s,
        "broker_commit_interval": 1.0,
        "producer_linger": 0.002,
        # Records share record batches (aiokafka's default size). The embedded broker reports a
        # partition's end as the first offset of its last batch plus one, so faust's recovery
        # stops short of the rest of that batch; agents.recovery reads it before the agents
        # resume. (With one record per batch every table write waited for the previous write
        # to the same changelog partition to be sent: a round trip per table key.)
        "producer_max_batch_size": 16384,
        "producer_max_request_size": 8 * 1024 * 1024,
        "consumer_max_fetch_size": 8 * 1024 * 1024,
    }


def _credentials(settings: Settings) -> Any:
    """faust's credentials from the same kwargs as every aiokafka client: the same checks,
    the same verifying TLS context (client chain included), so SSL is never plaintext."""
    kwargs = client_kwargs(settings)
    context = kwargs.get("ssl_context")
    if kwargs["security_protocol"] == "SSL":
        return faust.SSLCredentials(context)
    if "sasl_mechanism" not in kwargs:
        return None
    # With an ssl_context faust's SASLCredentials say SASL_SSL, else SASL_PLAINTEXT.
    return faust.SASLCredentials(
        username=kwargs["sasl_plain_username"],
        password=kwargs["sasl_plain_password"],
        mechanism=kwargs["sasl_mechanism"],
        ssl_context=context,
    )


@dataclass(frozen=True)
class Wiring:
    """What the agents talk to besides Kafka; tests swap in memory versions."""

    policies: tuple[Policy, ...] = ()
    verdicts: VerdictStore | None = None
    writer: FeedbackWriter | None = None
    outbox: Publisher | None = None  # None: faust topics
    durable: bool = True  # False: tables without changelog writes (faust test contexts)
    batching: Batching = Batching()
    fatal: Fatal = exit_process


def create_app(settings: Settings, wiring: Wiring = Wiring(), roles: Roles = ALL_ROLES) -> Worker:
    """Build the worker: the faust app, its tables and the agents of ``roles``."""
    app = faust.App(app_id(settings), **faust_settings(settings))
    set_fetch_max_wait(app, settings.kafka_fetch_max_wait_ms)
    metrics = WorkerMetrics()
    outbox = wiring.outbox
    if outbox is None:
        faust_outbox = FaustOutbox(app, settings, metrics.sent)
        for spec in OUTPUTS:
            faust_outbox.topic(spec)
        outbox = faust_outbox
    feedback = _table(app, settings, FEEDBACK_TABLE, ModelFeedback, wiring.durable)
    tests = _table(app, settings, ABTEST_TABLE, ABTestState, wiring.durable)
    worker = Worker(
        app,
        FeedbackContext(feedback, outbox, wiring.policies, Limits.of(settings)),
        ABContext(
            tests,
            outbox,
            wiring.verdicts,
            wiring.policies,
            max_future=timedelta(seconds=settings.event_time_max_future_s),
        ),
        metrics=metrics,
    )
    if roles.stats:
        _register_feedback(worker, settings, wiring)
    if roles.abtests:
        _register_abtests(worker, settings, wiring)
    if roles.sink and wiring.writer is not None:
        _register_sink(worker, settings, wiring.writer, wiring)
    return worker


def _table(app: Any, settings: Settings, name: str, kind: Any, durable: bool) -> ExactTable[Any]:
    partitions = settings.kafka_topic_partitions
    table = app.Table(name, key_type=bytes, value_type=bytes, partitions=partitions)
    dedup = Bounds(round(settings.stream_dedup_horizon_s * 1000), settings.stream_dedup_max_ids)
    exact = ExactTable[Any](
        table, kind.from_json, partitions=partitions, durable=durable, dedup=dedup
    )
    if durable:  # complete faust's recovery with each changelog partition's last batch
        table.on_recover(on_recovered(table, exact, TailReader(settings)))
        table.on_recover(exact.recovered)  # seen ids: rebuilt from the recovered segments
    return exact


def _source(app: Any, settings: Settings, spec: TopicSpec) -> Any:
    partitions = spec.partition_count(settings)
    return app.topic(spec.name(settings), key_type=bytes, value_type=bytes, partitions=partitions)


def _add_agent(
    worker: Worker,
    name: str,
    source: Any,
    handle: BatchHandler,
    wiring: Wiring,
    table: ExactTable[Any],
    settings: Settings,
) -> None:
    handle = worker.metrics.counted(name, handle)
    if wiring.durable:  # faust test contexts have no broker to read holes from
        worker.metrics.watch(name, source.get_topic_name(), table)
        reader = BrokerReader(settings)
        sequenced = in_sequence(handle, Sequencer(table, reader))
        worker.app.on_before_shutdown.connect(partial(_stop_reader, reader))
        _sweep_when_quiet(worker.app, source.get_topic_name(), sequenced, wiring)
        handle = sequenced

    async def run(stream: Any) -> None:
        with bound(agent=name):  # the agent's task: its JSON log lines name it
            await consume(stream, handle, wiring.batching, wiring.fatal)

    worker.agents[name] = worker.app.agent(source, name=name)(run)


SWEEP_EVERY_S = 2.0  # how often a quiet agent looks for messages faust never delivered


def _sweep_when_quiet(app: Any, topic: str, sequenced: InSequence, wiring: Wiring) -> None:
    """Every few seconds, if the agent had no batch meanwhile and no rebalance is under way,
    read what its partitions hold past their marks (:meth:`Sequencer.overdue`)."""

    async def sweep(*_: Any) -> None:  # faust passes the app to a timer that takes it
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            sequenced.hold_off()  # faust delivers only after this: quiet is counted from then
            return
        if time.monotonic() - sequenced.last_batch_at <= SWEEP_EVERY_S:
            return
        mine = sorted((tp.topic, tp.partition) for tp in app.assignor.assigned_actives())
        sweep_mine = partial(sequenced.sweep, [p for p in mine if p[0] == topic])
        try:
            await retrying(partial(sweep_mine, wiring.batching.max_messages), "sweep")
        except Exception as exc:
            await wiring.fatal(exc)
            raise

    app.timer(SWEEP_EVERY_S, name=f"sweep {topic}")(sweep)


async def _stop_reader(reader: BrokerReader, _app: Any, **_: Any) -> None:
    await reader.stop()


def _register_feedback(worker: Worker, settings: Settings, wiring: Wiring) -> None:
    source = _source(worker.app, settings, FEEDBACK_TOPIC)
    handle = partial(tally_batch, worker.feedback)
    _add_agent(worker, "tally_feedback", source, handle, wiring, worker.feedback.table, settings)


def _register_abtests(worker: Worker, settings: Settings, wiring: Wiring) -> None:
    app, commands_ctx = worker.app, worker.abtests
    ctx = commands_ctx  # the commands agent needs no look ahead: it reads the commands
    if wiring.durable:
        topic = ABTEST_COMMANDS_TOPIC.name(settings)
        pending = PendingCommands(settings, app_id(settings), topic)
        ctx = worker.abtests = replace(ctx, pending_commands=pending.read)
        app.on_before_shutdown.connect(lambda _app, **_: pending.stop())
    commands = _source(app, settings, ABTEST_COMMANDS_TOPIC)
    outcomes = _source(app, settings, INFERENCE_OUTCOMES_TOPIC)
    define, judge = partial(judge_batch, commands_ctx), partial(judge_batch, ctx)
    _add_agent(worker, "define_ab_tests", commands, define, wiring, ctx.table, settings)
    _add_agent(worker, "judge_ab_tests", outcomes, judge, wiring, ctx.table, settings)
    if wiring.durable:  # faust test contexts run no timers
        _end_tests_by_time(worker, settings, commands.get_topic_name(), wiring)


def _end_tests_by_time(worker: Worker, settings: Settings, topic: str, wiring: Wiring) -> None:
    """Every ``ABTEST_LIMITS_CHECK_S``, end the tests of this worker's partitions that passed
    their maximum duration or idle timeout (:func:`end_tests_by_time`)."""
    app = worker.app

    async def check(*_: Any) -> None:  # faust passes the app to a timer that takes it
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return  # the tables are not whole yet: the next tick looks again
        mine = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
        ending = partial(end_tests_by_time, worker.abtests, datetime.now(UTC), mine)
        try:
            ended = await retrying(ending, "A/B time limits")
        except Exception as exc:
            await wiring.fatal(exc)
            raise
        for test_id in ended:
            log.info("A/B test %s ended by a time limit", test_id)

    app.timer(settings.abtest_limits_check_s, name="A/B time limits")(check)


def _register_sink(
    worker: Worker, settings: Settings, writer: FeedbackWriter, wiring: Wiring
) -> None:
    group = f"{app_id(settings)}-feedback-sink"
    sink = FeedbackSink(settings, writer, group_id=group, sent=worker.metrics.sent)
    worker.sink = sink

    async def persist_feedback() -> None:
        try:
            await sink.run()
        except Exception as exc:  # noqa: BLE001 - a sink that cannot write stops the worker
            await wiring.fatal(exc)
            raise

    worker.app.task(persist_feedback)


def serve_metrics(worker: Worker, settings: Settings, loop: asyncio.AbstractEventLoop) -> None:
    """Serve ``/metrics`` and ``/healthz`` on ``METRICS_HOST:METRICS_PORT`` while the worker
    runs on ``loop`` (faust's own web server stays off: ``web_enabled``).

    A task on ``loop`` beats the health check from the start (faust starts its timers only
    once table recovery is done, which may take long); a timer refreshes the lag gauges.
    """
    app, heartbeat = worker.app, Heartbeat()
    beating = asyncio.ensure_future(heartbeat.keep_beating(), loop=loop)

    async def refresh(*_: Any) -> None:  # faust passes the app to a timer that takes it
        _refresh_lag(worker)

    app.timer(HEARTBEAT_EVERY_S, name="consumer lag")(refresh)
    registry, host, port = worker.metrics.registry, settings.metrics_host, settings.metrics_port
    server = serve(registry, host, port, heartbeat.alive)

    async def stop(_app: Any, **_: Any) -> None:
        beating.cancel()
        await asyncio.to_thread(stop_serving, server)

    app.on_before_shutdown.connect(stop)


def _refresh_lag(worker: Worker) -> None:
    app = worker.app
    if app.rebalancing or not app.tables.recovery.completed.is_set():
        return  # positions and marks are moving: the next tick reports them
    try:
        assigned = app.consumer.assignment()  # what the consumer thread holds right now
        highwater = {(tp.topic, tp.partition): app.consumer.highwater(tp) for tp in assigned}
    except Exception:  # noqa: BLE001 - a rebalance under way; a gauge never stops the worker
        log.debug("consumer lag not refreshed", exc_info=True)
        return
    worker.metrics.refresh_lag(highwater, lambda topic, partition: highwater[topic, partition])
