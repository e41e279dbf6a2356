"""Property-based run of the OpenAPI spec (schemathesis) against a served app: valid and
invalid requests to every operation, no 5xx, and every response one the spec declares,
with the declared body and content type."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.api.helpers import ADMIN, ADMIN_KEY, INGEST_KEY, api_settings_for
from tonebridge.api.app import create_app
from tonebridge.broker import EmbeddedBroker, free_port
from tonebridge.settings import Settings, load_settings
from tonebridge.storage.migrate import upgrade
from tonebridge.topics.admin import create_topics

pytestmark = pytest.mark.integration
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def served_api(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``tonebridge api`` in a subprocess (its own SQLite database and topics).

    A process, not a thread: the app's Kafka clients would otherwise touch the global
    ``random`` while Hypothesis generates, which Hypothesis reports as a misuse.
    """
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    database_url = f"sqlite+aiosqlite:///{data_dir / 'api.db'}"
    upgrade(database_url)
    settings = api_settings_for(broker, uuid.uuid4().hex[:10], data_dir, database_url=database_url)
    asyncio.run(create_topics(settings))
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tonebridge.cli",
            "api",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=server_env(settings),
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(server, base_url)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


def server_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "REDIS_", "KAFKA_"))}
    return env | {
        "PYTHONPATH": str(Path.cwd()),
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "DATABASE_URL": str(settings.database_url),
        "DATA_DIR": str(settings.data_dir),
        "API_ADMIN_KEYS": json.dumps([ADMIN_KEY]),
        "API_INGEST_KEYS": json.dumps([INGEST_KEY]),
        "API_RATE_LIMIT_PER_MINUTE": "100000",
    }


def wait_until_serving(server: subprocess.Popen[bytes], base_url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, f"tonebridge api exited with {server.returncode}"
        assert time.monotonic() < deadline, "tonebridge api did not start within 60 s"
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


# The spec does not depend on settings, so operations are known at collection time.
SCHEMA = schemathesis.openapi.from_dict(create_app(load_settings(api_host="127.0.0.1")).openapi())
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}
CASES = [
    (label, mode)
    for label, op in sorted(OPERATIONS.items())
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # An operation without any input has no invalid request to make.
    if mode is GenerationMode.POSITIVE or any((op.path_parameters, op.query, op.body))
]


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{op}-{mode.value}" for op, mode in CASES])
def test_every_operation_answers_as_documented(
    served_api: str, label: str, mode: GenerationMode
) -> None:
    # Hypothesis driven directly: schemathesis' pytest plugin does not support pytest 9 yet.
    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode))
    @settings(
        max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=served_api, headers=ADMIN, checks=CHECKS)

    check()
