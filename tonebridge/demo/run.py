"""Run the demo: stack, base model, services, simulated app, live view, summary; clean exit.

The run ends when the downstream watcher sees the promoted model deployed (exit 0), when a
service dies or the time limit passes (exit 1), or on SIGINT (exit 130) or SIGTERM (exit 0).
Whatever ends it, the children are stopped and the embedded broker with them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import replace
from datetime import UTC, datetime

from rich.console import Console

from tonebridge.client.producer import EventProducer
from tonebridge.decisions.promotion import load_promotion
from tonebridge.demo.app import SimulatedApp
from tonebridge.demo.models import (
    Generator,
    ModelSource,
    build_base,
    init_tracking,
    register_base,
    source_of_record,
)
from tonebridge.demo.needs import NEW_TONE, Needs, needs
from tonebridge.demo.observe import follow
from tonebridge.demo.options import DemoOptions
from tonebridge.demo.screen import log_to_file, refresh, screen
from tonebridge.demo.session import DemoFailed, Run
from tonebridge.demo.stack import Stack, prepare_data_dir, start_stack
from tonebridge.demo.summary import summary_lines
from tonebridge.demo.supervise import (
    ChildSpec,
    Supervisor,
    daemon_threads_alive,
    in_daemon_thread,
    tonebridge_argv,
)
from tonebridge.demo.watchers import (
    STARTUP_S,
    announce_api,
    on_event,
    poll_worker_state,
    record_base,
    watch_downstream,
    watch_health,
)
from tonebridge.settings import Settings
from tonebridge.storage.records import ModelRecord

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
SERVICES = (("worker", ("worker",)), ("trainer", ("trainer",)), ("api", ("api",)))


def start_services(run: Run, stack: Stack) -> None:
    env = stack.child_env(os.environ)  # passed through to the children, not read here
    for name, args in SERVICES:
        log = run.options.logs / f"{name}.log"
        child = run.supervisor.start(ChildSpec(name, tonebridge_argv(*args), log, env))
        run.say(f"started {name} (pid {child.pid}, log {log})")


async def prepare(run: Run, base: Settings) -> tuple[Stack, SimulatedApp, Needs]:
    options = run.options
    run.say("starting the stack (broker, database, topics) and the base model")
    stack = await start_stack(options, base, run.supervisor)
    run.notes.extend(stack.notes)
    model_dir, _ = await asyncio.gather(
        in_daemon_thread(build_base, options.cache_dir),
        asyncio.to_thread(init_tracking, stack.settings),
    )
    model, production = await register_base(stack.settings, model_dir)
    run.base = model
    run.story.set_base(model.id)
    run.story.promotion = load_promotion(options.policies)
    run.say(f"base model {model.name} ({model_dir}) registered")
    wanted = needs(options.pool_size, options.held_out_size, options.seed, options.rounds)
    served = wanted.for_round(1)
    app = SimulatedApp(run.story, Generator(stack.settings), served, run.clock, seed=options.seed)
    app.add_model(model.id, ModelSource(str(model_dir)))
    serve_production(run, app, production)
    return stack, app, wanted


def serve_production(run: Run, app: SimulatedApp, production: ModelRecord) -> None:
    """The app starts with the production model: the base, or (``--keep``) a later version."""
    if production.id != run.story.base_model_id:
        run.story.labels[production.id] = f"v{production.version}"
        app.add_model(production.id, source_of_record(production))
        run.say(f"production is {production.name} v{production.version}, kept from an earlier run")
    run.story.production = production.id
    app.deployed(production.id)


async def close_loop(
    run: Run, stack: Stack, app: SimulatedApp, supervisor: Supervisor, wanted: Needs
) -> None:
    """Serve traffic until the promoted model is deployed and seen downstream, every round."""
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
        group.create_task(record_base(run, stack, app, wanted.held_out))
        group.create_task(announce_api(run, settings))
        try:
            await go_live(run, stack, app, producer)
            tasks.append(group.create_task(app.serve(producer, run.options.requests_per_s)))
            await wait_closed(run)
            for number in range(2, run.options.rounds + 1):
                await next_round(run, app, wanted, number)
                await wait_closed(run)
        finally:
            for task in tasks:
                task.cancel()


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


async def next_round(run: Run, app: SimulatedApp, wanted: Needs, number: int) -> None:
    """Round ``number - 1`` closed: score it, then the users' needs shift."""
    await score_round(run, app, wanted)
    run.story.next_round()
    run.closed.clear()
    app.shift(wanted.for_round(number))
    run.say(f"round {number}: the users' needs shift: {NEW_TONE} rewrites are now as common")


async def score_round(run: Run, app: SimulatedApp, wanted: Needs) -> None:
    """Held-out chrF, old and new requests, of the round's starting and promoted models."""
    story = run.story
    if story.promoted is None or story.base_model_id is None:
        return
    story.ladder = story.ladder or [story.base_model_id]
    story.ladder.append(story.promoted)
    for model_id in [m for m in story.ladder if m not in story.scores]:
        run.say(f"scoring {story.label(model_id)} on the held-out requests, old and new")
        old = await app.held_out_chrf([model_id], wanted.held_out_old)
        new = await app.held_out_chrf([model_id], wanted.held_out_new)
        story.scores[model_id] = (old[model_id], new[model_id])


async def finish(run: Run, app: SimulatedApp, wanted: Needs) -> None:
    if run.options.rounds > 1:
        await score_round(run, app, wanted)
        return
    promoted, base, held_out = run.story.promoted, run.story.base_model_id, wanted.held_out
    if promoted is None or base is None:
        return
    run.say(f"scoring {run.story.label(promoted)} on {len(held_out)} held-out requests")
    missing = [m for m in (base, promoted) if m not in run.story.held_out]
    run.story.held_out.update(await app.held_out_chrf(missing, held_out))


async def run_demo(options: DemoOptions, base: Settings, console: Console) -> int:
    """The whole demo; its exit status. Cancelling it (a signal) still cleans up."""
    run = Run(options, console, Supervisor(options.pids))
    try:
        with screen(console, run.story, options.plain, run.clock, run.notes) as update:
            refresher = asyncio.create_task(refresh(update))
            try:
                stack, app, wanted = await prepare(run, base)
                start_services(run, stack)
                await close_loop(run, stack, app, run.supervisor, wanted)
                await finish(run, app, wanted)
            except* DemoFailed as failed:
                run.say(f"FAILED: {failed.exceptions[0]}")
            finally:
                refresher.cancel()
                update()
        _print_summary(run)
        return EXIT_OK if run.story.promoted else EXIT_FAILED
    finally:
        run.supervisor.stop_all()  # services first, the broker last


def _print_summary(run: Run) -> None:
    run.console.print("\n[bold]Summary[/bold]")
    for line in summary_lines(run.story, run.clock(), run.options.held_out_size):
        run.console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    where = f"  Logs, database and MLflow store: {run.options.data_dir}"
    run.console.print(where, markup=False, highlight=False, soft_wrap=True)


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
