"""Create every tonebridge topic, idempotently (``tonebridge topics create``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code

from tonebridge.errors import BrokerError
from tonebridge.settings import Settings
from tonebridge.topics.connection import client_kwargs, is_transient
from tonebridge.topics.registry import ALL_TOPICS
from tonebridge.topics.spec import TopicSpec

TOPIC_ALREADY_EXISTS = 36
RETRY_PAUSE_S = 0.5


@dataclass(frozen=True)
class TopicsReport:
    """What :func:`create_topics` found and did."""

    created: tuple[str, ...]
    existing: tuple[str, ...]
    # (topic, partitions wanted, partitions it has): co-partitioned joins break on these.
    mismatched: tuple[tuple[str, int, int], ...] = ()


async def create_topics(
    settings: Settings, specs: Iterable[TopicSpec] = ALL_TOPICS, *, timeout_s: float = 30.0
) -> TopicsReport:
    """Create the topics of ``specs`` that do not exist; existing ones are left alone.

    Retries while the broker is unreachable (it may still be starting) until ``timeout_s``.
    """
    wanted = {spec.name(settings): spec.partition_count(settings) for spec in specs}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await _create_once(settings, wanted, timeout_s)
        except KafkaError as exc:
            if not is_transient(exc) or time.monotonic() + RETRY_PAUSE_S >= deadline:
                msg = f"could not create topics on {settings.bootstrap_servers}: {exc!r}"
                raise BrokerError(msg) from exc
            await asyncio.sleep(RETRY_PAUSE_S)


async def _create_once(
    settings: Settings, wanted: Mapping[str, int], timeout_s: float
) -> TopicsReport:
    admin = AIOKafkaAdminClient(
        **client_kwargs(settings, "tonebridge-admin"),
        request_timeout_ms=int(min(timeout_s, 30.0) * 1000),
    )
    await admin.start()
    try:
        existing = sorted(set(await admin.list_topics()) & wanted.keys())
        missing = [name for name in wanted if name not in existing]
        raced = await _create_missing(admin, missing, wanted, settings.kafka_replication_factor)
        existing = sorted([*existing, *raced])
        actual = await _partition_counts(admin, existing)
    finally:
        await admin.close()
    created = tuple(name for name in missing if name not in raced)
    mismatched = tuple(
        (name, wanted[name], actual[name]) for name in existing if actual[name] != wanted[name]
    )
    return TopicsReport(created, tuple(existing), mismatched)


async def _create_missing(
    admin: AIOKafkaAdminClient, names: list[str], partitions: Mapping[str, int], replicas: int
) -> list[str]:
    """Create ``names``; return those another client created first."""
    if not names:
        return []
    response = await admin.create_topics([NewTopic(n, partitions[n], replicas) for n in names])
    raced = []
    for topic, code, message, *_ in response.topic_errors:
        if code == TOPIC_ALREADY_EXISTS:
            raced.append(topic)
        elif code != 0:
            error = for_code(code)
            if error.retriable:
                raise error(message)
            msg = f"broker refused to create topic {topic}: {error.__name__} {message or ''}"
            raise BrokerError(msg)
    return raced


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    described = await admin.describe_topics(names)
    return {str(topic["topic"]): len(topic["partitions"]) for topic in described}
