"""Property-based run of the OpenAPI spec (schemathesis) against a served app: valid and
invalid requests to every operation, no 5xx, and every response one the spec declares,
with the declared body and content type."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.api.helpers import ADMIN, api_settings_for
from tonebridge.api.app import create_app
from tonebridge.broker import EmbeddedBroker, free_port
from tonebridge.settings import load_settings
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
    """The app under uvicorn on a free port, with its own SQLite database and topics."""
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    database_url = f"sqlite+aiosqlite:///{data_dir / 'api.db'}"
    upgrade(database_url)
    app_settings = api_settings_for(
        broker, uuid.uuid4().hex[:10], data_dir, database_url=database_url
    )
    asyncio.run(create_topics(app_settings))
    port = free_port()
    config = uvicorn.Config(
        create_app(app_settings), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


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
