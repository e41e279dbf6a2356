"""What runs beside the app during a demo: observers of the services, and health checks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from tonebridge.demo.app import SimulatedApp
from tonebridge.demo.models import log_base_run
from tonebridge.demo.needs import Request
from tonebridge.demo.session import DemoFailed, Run
from tonebridge.demo.stack import Stack
from tonebridge.demo.supervise import Supervisor
from tonebridge.settings import Settings

POLL_S = 0.5
STARTUP_S = 120.0  # for the services to start answering


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
    run.say(f"dashboard at {url}/ui (log in with an admin key; {_login_hint(settings)})")


def _login_hint(settings: Settings) -> str:
    if settings.api_admin_keys:
        return "one of API_ADMIN_KEYS"
    return "the demo's API has no keys: any key is accepted on loopback"
