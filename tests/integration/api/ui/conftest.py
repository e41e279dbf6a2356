"""Fixtures of the dashboard's browser tests: one running stack per module (API, worker and
trainer processes on a fresh PostgreSQL database), seeded, and a headless chromium."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import postgres_database
from tests.support.dashboard import (
    Stack,
    chromium,
    feedback_events,
    outcomes,
    running_stack,
    seed_many_models,
    seed_models,
    seed_training,
    wait_for,
)
from tonebridge.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from tonebridge.storage.migrate import upgrade

    unique = uuid.uuid4().hex[:8]
    with postgres_database() as url:
        upgrade(url)
        workdir = tmp_path_factory.mktemp(f"dashboard-{unique}")
        with running_stack(broker.bootstrap_servers, url, workdir, unique) as running:
            yield running


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> dict[str, Any]:
    """Two model names and a thousand more, feedback on one, an A/B test with outcomes and
    a job with losses."""
    formal = asyncio.run(seed_models(stack.settings, "tone-formal"))
    casual = asyncio.run(seed_models(stack.settings, "tone-casual"))
    asyncio.run(seed_many_models(stack.settings, 1000))
    for kind in ("formal", "polite"):
        stack.post("/feedback", {"events": feedback_events(formal["base"], 60, kind)})
    arms = {"control": formal["base"], "treatment": formal["trained"]}
    test = stack.post(
        "/ab-test",
        {
            "name": "formal-v2-vs-v1",
            "arms": [{"arm_id": arm, "model_id": model} for arm, model in sorted(arms.items())],
            "min_samples": 30,  # the always-valid interval starts after this burn-in
        },
    )
    job_id = asyncio.run(seed_training(stack.settings, formal["trained"], steps=12))
    seeded = {"formal": formal, "casual": casual, "test_id": test["test_id"], "arms": arms}
    stack.post("/outcomes", {"events": outcomes(test["test_id"], arms, 0, 40)})
    wait_for(lambda: _counted(stack, test["test_id"]), 60, "the worker to count outcomes")
    return seeded | {"job_id": job_id}


def _counted(stack: Stack, test_id: str) -> bool:
    live = stack.http.get(f"/ab-test/{test_id}/results").json().get("live") or {}
    return sum(arm["assigned"] for arm in (live.get("arms") or {}).values()) >= 40


@pytest.fixture(scope="module")
def browser(stack: Stack, seeded: dict[str, Any]) -> Iterator[Any]:
    """Started after the stack is seeded and closed with the module: Playwright's sync API
    runs an event loop in this thread, so no ``asyncio.run`` may come while it lives."""
    executable = chromium()
    if executable is None:
        pytest.skip("no chromium binary: scripts/setup.sh installs Debian's chromium as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    """A fresh browser context that may reach the stack only: any other host is aborted
    and listed in ``page.offsite`` (the dashboard and /docs must work offline)."""
    context = browser.new_context(
        base_url=stack.url, viewport={"width": 1440, "height": 900}, device_scale_factor=1
    )
    offsite: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(stack.url):
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    opened = context.new_page()
    opened.offsite = offsite
    yield opened
    context.close()
