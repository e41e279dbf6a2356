"""JSON log lines: one object per record, with the ids bound around the code that logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from tonebridge.observability.logs import JsonFormatter, bound


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tonebridge.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def logged(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_a_json_object_with_the_bound_ids_and_extras(lines: io.StringIO) -> None:
    log = logging.getLogger("tonebridge.test.json")
    with bound(job_id="j-1", command_id="c-1"):
        log.info("job %s started", "j-1", extra={"event_id": "e-1", "secret": "not a field"})
    log.info("after")
    first, after = logged(lines)
    assert first["message"] == "job j-1 started"
    assert (first["level"], first["logger"]) == ("INFO", "tonebridge.test.json")
    assert (first["job_id"], first["command_id"], first["event_id"]) == ("j-1", "c-1", "e-1")
    assert "secret" not in first
    assert "job_id" not in after
    assert str(first["time"]).endswith("+00:00")


def test_a_traceback_is_one_field(lines: io.StringIO) -> None:
    log = logging.getLogger("tonebridge.test.json")
    try:
        msg = "boom"
        raise ValueError(msg)
    except ValueError:
        log.exception("failed")
    [line] = logged(lines)
    assert "ValueError: boom" in str(line["exc"])


async def test_a_thread_started_under_bound_ids_logs_them(lines: io.StringIO) -> None:
    log = logging.getLogger("tonebridge.test.json")
    with bound(job_id="j-2"):
        await asyncio.to_thread(log.info, "from the training thread")
    [line] = logged(lines)
    assert line["job_id"] == "j-2"
