"""Run the demo: stack, base model, services, simulated app, live view, summary; clean exit.

The run ends when the downstream watcher sees the promoted model deployed (exit 0), when a
service dies or the time limit passes (exit 1), or on SIGINT (exit 130) or SIGTERM (exit 0).
Whatever ends it, the children are stopped and the embedded broker with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from tonebridge.agents.promotion_policy import load_promotion
from tonebridge.client.producer import EventProducer
from tonebridge.demo.app import Request, SimulatedApp, synthetic_requests
from tonebridge.demo.models import (
    Generator,
    ModelSource,
    build_base,
    init_tracking,
    log_base_run,
    register_base,
    source_of_record,
)
from tonebridge.demo.observe import follow
from tonebridge.demo.options import DemoOptions
from tonebridge.demo.screen import log_to_file, refresh, screen
from tonebridge.demo.stack import Stack, prepare_data_dir, start_stack
from tonebridge.demo.story import Story
from tonebridge.demo.summary import summary_lines
from tonebridge.demo.supervise import (
    ChildSpec,
    Supervisor,
    daemon_threads_alive,
    in_daemon_thread,
    tonebridge_argv,
)
from tonebridge.settings import Settings
from tonebridge.storage.records import ModelRecord

SERVICES = (("worker", ("worker",)), ("trainer", ("trainer",)), ("api", ("api",)))
POLL_S = 0.5
STARTUP_S = 120.0  # for the services to start consuming
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class DemoFailed(Exception):
    """The loop cannot close: a service died, or the time ran out."""


@dataclass
class Run:
    options: DemoOptions
    console: Console
    started: float = field(default_factory=time.monotonic)
    story: Story = field(default_factory=Story)
    notes: list[str] = field(default_factory=list)
    supervisor: Supervisor | None = None
    base: ModelRecord | None = None  # the base model's row
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def clock(self) -> float:
        return time.monotonic() - self.started

    def check_closed(self) -> None:
        """The loop is closed once the promoted model's deployment reached downstream."""
        if self.story.promoted is not None:
            self.closed.set()

    def say(self, text: str) -> None:
        self.story.note(self.clock(), text)


# --- the services ---------------------------------------------------------------------------


def start_services(run: Run, stack: Stack) -> Supervisor:
    supervisor = Supervisor(run.options.pids)
    env = stack.child_env(os.environ)  # passed through to the children, not read here
    for name, args in SERVICES:
        log = run.options.logs / f"{name}.log"
        supervisor.start(ChildSpec(name, tonebridge_argv(*args), log, env))
        run.say(f"started {name} (pid {supervisor.children[-1].pid}, log {log})")
    return supervisor


async def watch_health(run: Run, supervisor: Supervisor) -> None:
    """Fail the run when a service exits, or when the loop can no longer close."""
    # Neither a Popen child's exit nor the story has an awaitable event: poll them.
    while not (gone := supervisor.exited()):  # noqa: ASYNC110
        if (reason := run.story.dead_end()) is not None:
            raise DemoFailed(reason)
        await asyncio.sleep(POLL_S)
    child = gone[0]
    msg = f"{child.name} exited with {child.proc.returncode}; its log ends:\n{child.log_tail()}"
    raise DemoFailed(msg)


# --- what the demo observes -----------------------------------------------------------------


def on_event(run: Run, app: SimulatedApp) -> Callable[[str, Any], None]:
    def handle(name: str, record: Any) -> None:
        run.story.apply(name, record, run.clock())
        app.on_event(name, record)
        run.check_closed()

    return handle


async def watch_downstream(run: Run, settings: Settings, app: SimulatedApp) -> None:
    """A downstream inference service: hot-swap on every deployment it hears of."""
    from tonebridge.client.watch import watch_models

    async with contextlib.aclosing(watch_models(settings, from_beginning=True)) as events:
        async for event in events:
            run.story.watch(event.record, event.kind, run.clock())
            if event.change in ("deployed", "rolled_back"):
                app.deployed(event.model_id)
            run.check_closed()


async def poll_worker_state(run: Run, settings: Settings) -> None:
    """Rolling feedback statistics and the A/B test's arms, from the worker's tables."""
    from tonebridge.agents.views import ABTestsView, FeedbackStatsView

    stats, tests = FeedbackStatsView(settings), ABTestsView(settings)
    await stats.start()
    await tests.start()
    try:
        while True:
            for model_id in list(run.story.served):
                summary = stats.model(model_id)
                if summary is not None:
                    run.story.feedback[model_id] = summary["overall"]["all_time"]
            state = tests.get(str(run.story.test["test_id"])) if run.story.test else None
            if state is not None:
                run.story.observe_test(state.stats)
            await asyncio.sleep(POLL_S)
    finally:
        await stats.stop()
        await tests.stop()


# --- the run ------------------------------------------------------------------------------


async def prepare(run: Run, base: Settings) -> tuple[Stack, SimulatedApp, list[Request]]:
    options = run.options
    run.say("starting the stack (broker, database, topics) and the base model")
    stack = await start_stack(options, base)
    run.notes = stack.notes
    try:
        model_dir, _ = await asyncio.gather(
            in_daemon_thread(build_base, options.cache_dir),
            asyncio.to_thread(init_tracking, stack.settings),
        )
        model, production = await register_base(stack.settings, model_dir)
    except BaseException:
        stack.stop()
        raise
    run.base = model
    run.story.set_base(model.id)
    run.story.promotion = load_promotion(options.policies)
    run.say(f"base model {model.name} ({model_dir}) registered")
    served, held_out = synthetic_requests(options.pool_size, options.held_out_size, options.seed)
    app = SimulatedApp(run.story, Generator(stack.settings), served, run.clock, seed=options.seed)
    app.add_model(model.id, ModelSource(str(model_dir)))
    serve_production(run, app, production)
    return stack, app, held_out


def serve_production(run: Run, app: SimulatedApp, production: ModelRecord) -> None:
    """The app starts with the production model: the base, or (``--keep``) a later version."""
    if production.id != run.story.base_model_id:
        run.story.labels[production.id] = f"v{production.version}"
        app.add_model(production.id, source_of_record(production))
        run.say(f"production is {production.name} v{production.version}, kept from an earlier run")
    run.story.production = production.id
    app.deployed(production.id)


async def close_loop(
    run: Run, stack: Stack, app: SimulatedApp, supervisor: Supervisor, held_out: list[Request]
) -> None:
    """Serve traffic until the promoted model is deployed and seen downstream."""
    settings = stack.settings
    for model_id in app.routing.wanted:
        await app.load_pool(model_id)
    async with EventProducer(settings) as producer, asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(follow(settings, on_event(run, app))),
            group.create_task(watch_downstream(run, settings, app)),
            group.create_task(poll_worker_state(run, settings)),
            group.create_task(app.load_pools()),
            group.create_task(watch_health(run, supervisor)),
        ]
        group.create_task(record_base(run, stack, app, held_out))
        group.create_task(announce_api(run, settings))
        try:
            await go_live(run, stack, app, producer)
            tasks.append(group.create_task(app.serve(producer, run.options.requests_per_s)))
            await wait_closed(run)
        finally:
            for task in tasks:
                task.cancel()


async def record_base(run: Run, stack: Stack, app: SimulatedApp, held_out: list[Request]) -> None:
    """Log the base model as an MLflow run, with its held-out chrF: the score to beat."""
    model = run.base
    if model is None:
        return
    try:
        scores = await app.held_out_chrf([model.id], held_out)
        run_id = await asyncio.to_thread(log_base_run, stack.settings, model, scores[model.id])
    except Exception as exc:  # noqa: BLE001 - the record is a nicety; the loop goes on without
        logging.getLogger(__name__).warning("base model not logged to MLflow: %r", exc)
        return
    run.story.held_out.update(scores)
    run.say(f"base model logged to MLflow (run {run_id[:8]}): held-out chrF {scores[model.id]:.1f}")


async def announce_api(run: Run, settings: Settings) -> None:
    """Tell where the HTTP API is once it answers ``/readyz`` (the demo does not need it)."""
    import httpx

    url = f"http://{settings.api_host}:{settings.api_port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2.0) as client:
            async with asyncio.timeout(STARTUP_S):
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    await asyncio.sleep(POLL_S)
    except TimeoutError:
        run.say(f"the API at {url} is not ready (see logs/api.log); the loop goes on without")
        return
    run.say(f"API ready at {url}/docs (try {url}/feedback/stats)")


async def go_live(run: Run, stack: Stack, app: SimulatedApp, producer: EventProducer) -> None:
    """Once the worker stores the app's feedback, serve at the full rate."""
    from tonebridge.storage import Database, FeedbackRepository
    from tonebridge.storage.records import FeedbackSelection

    run.say("the app sends its first requests; waiting until the worker stores feedback")
    ours = FeedbackSelection(since=datetime.now(UTC), corrections_only=False)  # a kept dir has more
    async with Database.from_settings(stack.settings) as database:
        feedback = FeedbackRepository(database)
        await app.until_stored(producer, lambda: feedback.count(ours), STARTUP_S)
    run.say(f"feedback is stored: the app goes live at {run.options.requests_per_s:.0f} req/s")


async def wait_closed(run: Run) -> None:
    try:
        async with asyncio.timeout(run.options.timeout_s):
            await run.closed.wait()
    except TimeoutError:
        msg = f"the loop did not close within {run.options.timeout_s:.0f}s"
        raise DemoFailed(msg) from None


async def finish(run: Run, app: SimulatedApp, held_out: list[Request]) -> None:
    promoted, base = run.story.promoted, run.story.base_model_id
    if promoted is None or base is None:
        return
    run.say(f"scoring {run.story.label(promoted)} on {len(held_out)} held-out requests")
    missing = [m for m in (base, promoted) if m not in run.story.held_out]
    run.story.held_out.update(await app.held_out_chrf(missing, held_out))


async def run_demo(options: DemoOptions, base: Settings, console: Console) -> int:
    """The whole demo; its exit status. Cancelling it (a signal) still cleans up."""
    run = Run(options, console)
    stack: Stack | None = None
    try:
        with screen(console, run.story, options.plain, run.clock, run.notes) as update:
            refresher = asyncio.create_task(refresh(update))
            try:
                stack, app, held_out = await prepare(run, base)
                run.supervisor = start_services(run, stack)
                await close_loop(run, stack, app, run.supervisor, held_out)
                await finish(run, app, held_out)
            except* DemoFailed as failed:
                run.say(f"FAILED: {failed.exceptions[0]}")
            finally:
                refresher.cancel()
                update()
        _print_summary(run)
        return EXIT_OK if run.story.promoted else EXIT_FAILED
    finally:
        _stop_everything(run, stack)


def _print_summary(run: Run) -> None:
    run.console.print("\n[bold]Summary[/bold]")
    for line in summary_lines(run.story, run.clock(), run.options.held_out_size):
        run.console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    where = f"  Logs, database and MLflow store: {run.options.data_dir}"
    run.console.print(where, markup=False, highlight=False, soft_wrap=True)


def _stop_everything(run: Run, stack: Stack | None) -> None:
    if run.supervisor is not None:
        run.supervisor.stop_all()
    if stack is not None:
        stack.stop()


def main(options: DemoOptions, base: Settings, console: Console | None = None) -> int:
    """Run the demo in a fresh event loop with SIGINT/SIGTERM handling; the exit status."""
    options = replace(options, data_dir=prepare_data_dir(options.data_dir, options.keep))
    log_to_file(options.logs / "demo.log")
    status = asyncio.run(_signalled(options, base, console or Console()))
    if daemon_threads_alive():
        # Interrupted while building the base model: a thread inside torch cannot be
        # finalized (the interpreter would abort). Everything else is stopped already.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


async def _signalled(options: DemoOptions, base: Settings, console: Console) -> int:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    received: list[int] = []

    def stop(signum: int) -> None:
        if not received and main_task is not None:
            main_task.cancel()
        received.append(signum)  # a second signal must not interrupt the cleanup

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await run_demo(options, base, console)
    except asyncio.CancelledError:
        console.print("\nstopped: every child process was terminated", markup=False)
        return EXIT_INTERRUPTED if received[0] == signal.SIGINT else EXIT_OK
