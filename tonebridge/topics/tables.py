"""The worker's tables as topics: their names, their changelog topics and their reserved keys.

faust keeps each agent table in a changelog topic, ``<app id>-<table>-changelog``. Readers
outside the worker (the API's views, the tests, the benchmarks) follow those topics, so the
naming lives here, where importing it loads no faust.
"""

from __future__ import annotations

from tonebridge.settings import Settings

FEEDBACK_TABLE = "feedback_stats"
ABTEST_TABLE = "ab_tests"
RESERVED = b"\x00"  # the first byte of a bookkeeping key; no model or test id starts with it


def app_id(settings: Settings) -> str:
    """The faust app id: the consumer group of the agents and the prefix of changelogs."""
    return settings.topic_name(settings.worker_id)


def changelog_topic(settings: Settings, table: str) -> str:
    """The changelog topic of an agent table (faust's naming)."""
    return f"{app_id(settings)}-{table}-changelog"


def is_reserved(raw_key: bytes) -> bool:
    """Whether a table key is bookkeeping rather than a value of the table's type."""
    return raw_key.startswith(RESERVED)
