"""Helpers for the API tests: keys, a running app, a topic reader, seeded rows and tables."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tonebridge.api.app import create_app
from tonebridge.avro.codec import Decoded
from tonebridge.broker import EmbeddedBroker
from tonebridge.decisions.model_feedback import ModelFeedback
from tonebridge.settings import Settings, load_settings
from tonebridge.storage.db import Database
from tonebridge.storage.models import ModelRepository
from tonebridge.storage.records import ModelRecord
from tonebridge.topics.connection import client_kwargs
from tonebridge.topics.spec import TopicSpec
from tonebridge.topics.tables import FEEDBACK_TABLE, changelog_topic

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
ADMIN_KEY, INGEST_KEY = "admin-key-for-tests", "ingest-key-for-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
INGEST = {"Authorization": f"Bearer {INGEST_KEY}"}


def api_settings_for(
    broker: EmbeddedBroker, unique: str, data_dir: Path, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": broker.bootstrap_servers,
        "kafka_topic_prefix": f"t{unique}.",
        "kafka_topic_partitions": 2,
        "api_admin_keys": [ADMIN_KEY],
        "api_ingest_keys": [INGEST_KEY],
        "api_rate_limit_per_minute": 10_000,
        "redis_host": None,
        "data_dir": data_dir,
    }
    return load_settings(**(values | overrides))


class running_client:  # noqa: N801 - reads as a function in ``async with``
    """Start the app's lifespan and give an httpx client over ASGI."""

    def __init__(self, settings: Settings, database: Database, **kwargs: Any) -> None:
        self.app = create_app(settings, database=database, **kwargs)
        self._lifespan = self.app.router.lifespan_context(self.app)
        transport = httpx.ASGITransport(app=self.app)
        # localhost: an app without keys answers only requests addressed to loopback
        self.http = httpx.AsyncClient(transport=transport, base_url="http://localhost")

    async def __aenter__(self) -> httpx.AsyncClient:
        await self._lifespan.__aenter__()
        return self.http

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self._lifespan.__aexit__(None, None, None)


async def read_topic(settings: Settings, spec: TopicSpec) -> list[Decoded]:
    """Every event on ``spec``'s topic right now (the API returns after acks=all)."""
    consumer = AIOKafkaConsumer(**client_kwargs(settings, "api-tests"), group_id=None)
    await consumer.start()
    try:
        topic = spec.name(settings)
        partitions = [TopicPartition(topic, p) for p in range(spec.partition_count(settings))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        return await _read_until(consumer, ends, spec)
    finally:
        await consumer.stop()


async def _read_until(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], spec: TopicSpec
) -> list[Decoded]:
    events: list[Decoded] = []
    deadline = time.monotonic() + 15
    while await _behind(consumer, ends):
        assert time.monotonic() < deadline, "the topic did not deliver what it holds"
        batches = await consumer.getmany(timeout_ms=200)
        for messages in batches.values():
            for message in messages:
                events.extend(spec.decode(message.value))
    return events


async def add_model(
    database: Database, name: str, version: str = "1", **fields: Any
) -> ModelRecord:
    values: dict[str, Any] = {
        "model_type": "tone_adjustment",
        "base_model": "local/tiny-llama",
        "path": f"/artifacts/{name}/{version}/adapter",
    }
    return await ModelRepository(database).add(name=name, version=version, **(values | fields))


def tiny_adapter(root: Path) -> tuple[Path, Path]:
    """(a tiny base model folder, a LoRA adapter folder PEFT saved on it), under ``root``."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tonebridge.handlers.methods.tiny import ModelSpec, build_model

    base = build_model(root / "base", ModelSpec(pretrain_steps=1))
    lora = LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), lora).save_pretrained(root / "ad")
    return base, root / "ad"


async def known_models(database: Database, *model_ids: str) -> None:
    """Rows for ``model_ids`` (version 1 of a name each): ingestion refuses unknown models."""
    for model_id in model_ids:
        await add_model(database, f"known-{model_id}", model_id=model_id)


async def production_history(database: Database, name: str) -> tuple[ModelRecord, ModelRecord]:
    """Version 1 deployed, then version 2 deployed over it: (previous, production)."""
    repo = ModelRepository(database)
    first = await add_model(database, name, "1")
    await repo.promote(first.id)
    second = await add_model(database, name, "2")
    return first, (await repo.promote(second.id)).model


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    positions = [await consumer.position(tp) for tp in ends]
    return any(position < end for position, end in zip(positions, ends.values(), strict=True))


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def drop_redis_prefix(prefix: str) -> None:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def write_table(settings: Settings, states: Mapping[str, ModelFeedback]) -> None:
    """Records on the feedback table's changelog, as the feedback agent writes them."""
    producer = AIOKafkaProducer(**client_kwargs(settings), enable_idempotence=False)
    await producer.start()
    try:
        topic = changelog_topic(settings, FEEDBACK_TABLE)
        for model_id, state in states.items():
            await producer.send_and_wait(topic, state.to_json(), key=model_id.encode())
    finally:
        await producer.stop()
