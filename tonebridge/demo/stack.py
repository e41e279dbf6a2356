"""The demo's infrastructure: embedded where nothing real is configured, and its settings.

* Kafka: the embedded broker (``tonebridge broker``, a supervised child) on a free port,
  unless ``KAFKA_BOOTSTRAP_SERVERS`` is set; on a
  real Kafka every topic and consumer group of the run gets a ``demo-<run id>.`` prefix, so
  runs never see each other's events.
* Database: SQLite in the demo's data dir, unless ``DATABASE_URL`` or ``POSTGRES_HOST`` is set;
  migrated to the newest revision either way.
* MLflow: a sqlite store in the data dir, unless ``MLFLOW_TRACKING_URI`` is set.

The demo and its children share one set of settings: the demo builds its own with
:func:`load_settings` and hands the same values to the children as environment variables.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tonebridge.broker import free_port, kafka_ready
from tonebridge.demo.options import DemoOptions
from tonebridge.demo.supervise import ChildSpec, Supervisor, tonebridge_argv
from tonebridge.errors import BrokerError, ConfigError
from tonebridge.settings import Settings, load_settings

MARKER = ".tonebridge-demo"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
BROKER_START_S = 30.0


def prepare_data_dir(path: Path, keep: bool) -> Path:
    """An absolute, existing demo folder; emptied first unless ``keep``.

    Only a folder an earlier demo made (it holds the marker file) or an empty one is emptied:
    a mistyped ``--data-dir`` must not delete someone's files.
    """
    path = path.expanduser().resolve()
    if path.exists() and not keep:
        if any(path.iterdir()) and not (path / MARKER).is_file():
            msg = f"{path} is not empty and was not made by tonebridge demo; choose another"
            raise ConfigError(msg)
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).touch()
    return path


@dataclass
class Stack:
    """What the run talks to; ``overrides`` are the settings the demo changed (as env vars)."""

    settings: Settings
    overrides: dict[str, str]
    embedded_broker: bool = False
    notes: list[str] = field(default_factory=list)

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """A child's environment: the demo's, the overrides, and this source tree importable."""
        offline = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        return {**importable(base), **offline, **self.overrides}


def importable(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with this source tree on PYTHONPATH: children run ``python -m tonebridge.cli``."""
    path = base.get("PYTHONPATH")
    return {**base, "PYTHONPATH": f"{PACKAGE_ROOT}:{path}" if path else str(PACKAGE_ROOT)}


def stack_overrides(base: Settings, options: DemoOptions, bootstrap: str | None) -> dict[str, str]:
    values = {
        "DATA_DIR": str(options.data_dir),
        "RETRAIN_POLICIES_FILE": str(options.policies.resolve()),
        "API_HOST": "127.0.0.1",
        "API_PORT": str(free_port()),
    }
    if bootstrap is not None:
        values["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    else:  # a real Kafka: keep this run's topics and groups apart
        values["KAFKA_TOPIC_PREFIX"] = f"{base.kafka_topic_prefix}demo-{uuid.uuid4().hex[:8]}."
    return values


def settings_from(overrides: Mapping[str, str]) -> Settings:
    known = set(Settings.model_fields)
    return load_settings(**{k.lower(): v for k, v in overrides.items() if k.lower() in known})


async def start_broker(supervisor: Supervisor, logs: Path) -> str:
    """The embedded broker as a child of ``supervisor``; its address once it answers.

    Should the demo die without stopping it, the kernel sends it SIGTERM, on which
    ``tonebridge broker`` stops its broker process cleanly.
    """
    port = free_port()
    argv = tonebridge_argv("broker", "--port", str(port))
    env = importable(os.environ)  # passed through to the child, not read here
    child = supervisor.start(
        ChildSpec(
            "broker", argv, logs / "broker.log", env, orphan_signal=signal.SIGTERM, stops_last=True
        )
    )
    bootstrap = f"127.0.0.1:{port}"
    ready = asyncio.ensure_future(kafka_ready(bootstrap, BROKER_START_S))
    try:
        while not ready.done():
            if not child.running:
                msg = (
                    f"the embedded broker exited with {child.proc.returncode}:\n{child.log_tail()}"
                )
                raise BrokerError(msg)
            await asyncio.wait({ready}, timeout=0.1)
        await ready
    finally:
        ready.cancel()
    return bootstrap


async def start_stack(options: DemoOptions, base: Settings, supervisor: Supervisor) -> Stack:
    """Start what is embedded, create the topics, migrate the database."""
    from tonebridge.storage.migrate import upgrade_async
    from tonebridge.topics.admin import create_topics

    bootstrap = None
    if base.uses_embedded_broker:
        bootstrap = await start_broker(supervisor, options.logs)
    overrides = stack_overrides(base, options, bootstrap)
    stack = Stack(settings_from(overrides), overrides, embedded_broker=bootstrap is not None)
    await create_topics(stack.settings)
    await upgrade_async(stack.settings.sqlalchemy_url)
    stack.notes = describe(stack)
    return stack


def describe(stack: Stack) -> list[str]:
    """Where each part of the stack is, for the display (passwords masked)."""
    from sqlalchemy.engine import make_url

    settings = stack.settings
    kafka = "embedded broker" if stack.embedded_broker else "Kafka"
    database = make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
    return [
        f"{kafka} at {settings.bootstrap_servers} (topic prefix {settings.kafka_topic_prefix!r})",
        f"database {database}",
        f"MLflow {settings.mlflow_uri}",
        f"API http://{settings.api_host}:{settings.api_port}/docs",
    ]
