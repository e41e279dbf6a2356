"""The dashboard's browser tests: the API, the worker and the trainer as real processes on
the embedded broker and a database of their own, seeded through the API and repositories,
and Debian's chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.metrics import free_port
from tonebridge.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY, INGEST_KEY = "dashboard-admin-key", "dashboard-ingest-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
T = TypeVar("T")
# The README shows the screenshots in docs/screenshots; a run rewrites them only when asked
# (UPDATE_SCREENSHOTS=1), so that a test run leaves the work tree as it found it.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "tonebridge-screenshots"
)


def chromium() -> str | None:
    """Debian's chromium (scripts/setup.sh installs it), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def wait_for(probe: Callable[[], T | None], timeout_s: float = 60.0, what: str = "it") -> T:
    """Poll ``probe`` until it returns something truthy (a deadline, not a sleep)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Stack:
    """``tonebridge api``, ``worker`` and ``trainer`` on one test's topics and database."""

    def __init__(self, bootstrap: str, database_url: str, workdir: Path, unique: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = _environment(bootstrap, database_url, workdir, unique, self.port)
        self.settings: Settings = load_settings(
            kafka_bootstrap_servers=bootstrap,
            kafka_topic_prefix=self.env["KAFKA_TOPIC_PREFIX"],
            kafka_topic_partitions=2,
            database_url=database_url,
            data_dir=workdir,
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.http = httpx.Client(base_url=self.url, headers=ADMIN, timeout=20.0)

    def start(self, *names: str) -> None:
        for name in names:
            argv = [sys.executable, "-m", "tonebridge.cli", name]
            with (self.workdir / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
                )
        wait_for(self._ready, 90, "the API's /readyz")

    def _ready(self) -> bool:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited: {self.log(name)[-3000:]}"
        try:
            return self.http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        self.http.close()
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def post(self, path: str, body: Any, status: int = 202) -> Any:
        response = self.http.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()


def _environment(
    bootstrap: str, database_url: str, workdir: Path, unique: str, port: int
) -> dict[str, str]:
    return {
        **os.environ,
        "DATA_DIR": str(workdir),
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC_PREFIX": f"ui{unique}.",
        "KAFKA_TOPIC_PARTITIONS": "2",
        "KAFKA_SESSION_TIMEOUT_S": "6",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "API_ADMIN_KEYS": json.dumps([ADMIN_KEY]),
        "API_INGEST_KEYS": json.dumps([INGEST_KEY]),
        "API_RATE_LIMIT_PER_MINUTE": "100000",
        "WORKER_ID": f"ui-worker-{unique}",
        "RETRAIN_ENABLED": "false",
        "MLFLOW_TRACKING_URI": "",
    }


@contextmanager
def running_stack(bootstrap: str, database_url: str, workdir: Path, unique: str) -> Iterator[Stack]:
    from tonebridge.topics.admin import create_topics

    stack = Stack(bootstrap, database_url, workdir, unique)
    asyncio.run(create_topics(stack.settings))
    try:
        stack.start("api", "worker", "trainer")
        yield stack
    finally:
        stack.stop()


def event_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


T0 = datetime.now(UTC) - timedelta(hours=5)


def feedback_events(model_id: str, count: int, kind: str, start: int = 0) -> list[dict[str, Any]]:
    """Ratings spread over the last five hours; every third one corrects the output."""
    events = []
    for n in range(start, start + count):
        corrected = n % 3 == 0
        events.append(
            {
                "event_id": event_id(f"fb-{model_id}-{kind}-{n}"),
                "event_time": (T0 + timedelta(minutes=5 * n)).isoformat(),
                "user_id": f"user-{n % 7}",
                "model_id": model_id,
                "input_text": "send me the report asap",
                "output_text": "Please send me the report as soon as possible.",
                "corrected_text": "Could you send me the report when you have a moment?"
                if corrected
                else None,
                "transformation_type": kind,
                "rating": 1 + (n * 7) % 5 if not corrected else 2,
            }
        )
    return events


def outcomes(test_id: str, arms: dict[str, str], start: int, count: int) -> list[dict[str, Any]]:
    """Outcomes alternating between the arms; the treatment succeeds a little more often
    (60% against 55%: too little for the test to decide within a few hundred outcomes)."""
    events = []
    names = sorted(arms)
    for n in range(start, start + count):
        arm = names[n % len(names)]
        rate = 12 if arm == "treatment" else 11
        events.append(
            {
                "event_id": event_id(f"out-{test_id}-{n}"),
                "request_id": f"req-{test_id}-{n}",
                "model_id": arms[arm],
                "ab_test_id": test_id,
                "arm_id": arm,
                "success": (n // len(names)) % 20 < rate,
            }
        )
    return events


async def seed_models(settings: Settings, name: str) -> dict[str, Any]:
    """A base version in production and a version trained from it on feedback (a draft),
    as the trainer leaves them: its job, lineage and metrics. Returns their ids."""
    from tonebridge.storage import Database, ModelRepository, TrainingJobRepository

    async with Database(settings.sqlalchemy_url) as db:
        models, jobs = ModelRepository(db), TrainingJobRepository(db)
        base = await models.add(
            name=name, version="1", model_type="tone_adjustment", base_model="tiny-llama",
            path="hub://tiny-llama", metrics={"chrf": 41.0, "eval_loss": 2.3},
            lineage={"registered": "base"},
        )  # fmt: skip
        await models.promote(base.id)
        job, _ = await jobs.create_from_command(
            command_id=f"job-{name}", kind="sft", base_model="tiny-llama", parent_model_id=base.id
        )
        await jobs.mark_running(job.id, "ui-trainer")
        await jobs.finish(job.id, "completed", {"chrf": 47.5})
        trained = await models.add(
            name=name, version="2", model_type="tone_adjustment", base_model="tiny-llama",
            path=f"runs/{name}/2/adapter", training_job_id=job.id,
            metrics={"chrf": 47.5, "eval_loss": 1.9},
            lineage={"dataset_id": None, "feedback_from": T0.isoformat(),
                     "feedback_to": (T0 + timedelta(hours=4)).isoformat(), "feedback_count": 48},
        )  # fmt: skip
    return {"base": base.id, "trained": trained.id, "job": job.id}


async def seed_many_models(settings: Settings, count: int) -> None:
    """``count`` more names (``zz-load-0000``...), one version each: a long, paged list."""
    from tonebridge.storage import Database, ModelRepository

    async with Database(settings.sqlalchemy_url) as db:
        models = ModelRepository(db)
        for n in range(count):
            await models.add(
                name=f"zz-load-{n:04d}", version="1", model_type="tone_adjustment",
                base_model="tiny-llama", path=f"hub://load/{n}",
            )  # fmt: skip


async def seed_training(settings: Settings, parent_model_id: str, steps: int) -> str:
    """A running job and the TrainingStatus events a trainer sends for ``steps`` steps."""
    from tonebridge.client import EventProducer
    from tonebridge.storage import Database, TrainingJobRepository
    from tonebridge.topics.training import TRAINING_STATUS, TRAINING_STATUS_TOPIC, training_status

    async with Database(settings.sqlalchemy_url) as db:
        jobs = TrainingJobRepository(db)
        job, _ = await jobs.create_from_command(
            command_id="job-live", kind="dpo", base_model="tiny-llama",
            parent_model_id=parent_model_id, config={"feedback_since": T0.isoformat()},
        )  # fmt: skip
        await jobs.mark_running(job.id, "ui-trainer")
        await jobs.update_progress(job.id, 0.6)
    async with EventProducer(settings) as producer:
        for step in range(1, steps + 1):
            status = training_status(
                job.id, job.command_id, "running", step=step, total_steps=20,
                progress=step / 20, loss=2.5 * 0.9**step + 0.1,
            )  # fmt: skip
            await producer.send(TRAINING_STATUS_TOPIC, status, TRAINING_STATUS)
    return job.id


def log_in(page: Any, key: str = ADMIN_KEY) -> None:
    page.goto("/ui/login")
    page.fill("#key", key)
    page.click("button[type=submit]")


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    assert png.startswith(b"\x89PNG") and len(png) > 2_000  # noqa: S101 - a page, not a blank
