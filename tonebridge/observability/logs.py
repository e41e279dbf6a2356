"""JSON log lines (``LOG_FORMAT=json`` or ``--log-json``), one object per line.

Each line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, the traceback
under ``exc`` if any, and the ids of what the line is about where known: a record's
``extra`` or the fields bound with :func:`bound` for the code running under it (a job's
``job_id`` and ``command_id`` in the trainer, the ``agent`` in the worker). ``asyncio`` tasks
and ``asyncio.to_thread`` copy the bound fields, so the training thread's lines carry them too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.config
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

FIELDS = ("job_id", "command_id", "event_id", "event_ids", "agent", "topic", "partition", "offset")

_bound: ContextVar[Mapping[str, object]] = ContextVar(
    "tonebridge_log_fields", default=MappingProxyType({})
)


@contextlib.contextmanager
def bound(**fields: object) -> Iterator[None]:
    """Lines logged under this block (and tasks or threads started in it) carry ``fields``."""
    token = _bound.set({**_bound.get(), **fields})
    try:
        yield
    finally:
        _bound.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record; never raises on a value JSON cannot hold (``str`` it)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= _bound.get()
        line |= {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def json_logging_config(level: str | int = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` configuration: every line to stderr as JSON."""
    level = level.upper() if isinstance(level, str) else level
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["json"]},
    }


def configure(json_lines: bool, level: str | int = "INFO") -> None:
    """The root logger's set-up for a process: JSON lines, or the plain text format."""
    if json_lines:
        logging.config.dictConfig(json_logging_config(level))
        logging.captureWarnings(True)  # a library's warnings become JSON lines too
    else:
        logging.basicConfig(
            level=level.upper() if isinstance(level, str) else level,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
