from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.samples import sample
from tonebridge.broker import EmbeddedBroker
from tonebridge.cli import app
from tonebridge.client import EventProducer, ProducerConfig
from tonebridge.client.watch_cli import load_position, save_position
from tonebridge.settings import get_settings, load_settings
from tonebridge.topics.admin import create_topics
from tonebridge.topics.models import MODEL_EVENTS_TOPIC

pytestmark = pytest.mark.integration


async def _produce(prefix: str, bootstrap: str) -> None:
    settings = load_settings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix)
    await create_topics(settings, [MODEL_EVENTS_TOPIC])
    records = [
        ("ModelRegistered", sample("ModelRegistered", 0)),
        ("ModelChanged", sample("ModelChanged", 0)),
        ("ModelChanged", sample("ModelChanged", 1) | {"change": "rolled_back"}),
    ]
    # One message per event, as registry events are produced one at a time in practice.
    async with EventProducer(settings, ProducerConfig(pack=False)) as producer:
        for schema, record in records:
            await producer.send(MODEL_EVENTS_TOPIC, record, schema)


def test_models_watch_prints_events_and_resumes_from_its_position_file(
    broker: EmbeddedBroker, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"cli{unique}."
    asyncio.run(_produce(prefix, broker.bootstrap_servers))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers)
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", prefix)
    get_settings.cache_clear()
    positions = tmp_path / "position.json"
    args = ["models", "watch", "--from-beginning", "--position-file", str(positions)]
    try:
        first = CliRunner().invoke(app, [*args, "--limit", "2"], terminal_width=200)
        rest = CliRunner().invoke(app, [*args, "--limit", "1"], terminal_width=200)
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    lines = first.output.strip().splitlines()
    assert "registered" in lines[0] and "tone-formal v1 (tone-formal:1)" in lines[0]
    assert "deployed" in lines[1] and "alias=production" in lines[1]
    assert "previous=tone-formal:0" in lines[1]
    assert rest.exit_code == 0, rest.output
    assert "rolled_back" in rest.output and "tone-formal v2" in rest.output
    assert sum(json.loads(positions.read_text()).values()) == 3


def test_position_files_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    assert load_position(path) is None
    save_position(path, {2: 7, 0: 11})
    assert load_position(path) == {0: 11, 2: 7}
    assert not path.with_suffix(".json.tmp").exists()
