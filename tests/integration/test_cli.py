"""``tonebridge models register`` against a real database and the embedded broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.integration.api.helpers import read_topic, tiny_adapter
from tonebridge.broker import EmbeddedBroker
from tonebridge.cli import app
from tonebridge.errors import ConflictError, InvalidEventError
from tonebridge.settings import Settings, get_settings, load_settings
from tonebridge.storage.db import Database
from tonebridge.storage.models import ModelRepository
from tonebridge.topics.admin import create_topics
from tonebridge.topics.models import MODEL_EVENTS_TOPIC

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_adapter(tmp_path_factory.mktemp("cli"))


@pytest.fixture
def cli_settings(
    broker: EmbeddedBroker, unique: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The CLI's environment: this test's topics on the embedded broker."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers)
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", f"cli{unique}.")
    get_settings.cache_clear()
    settings = load_settings(database_url=database_url)
    asyncio.run(create_topics(settings, [MODEL_EVENTS_TOPIC]))
    yield settings
    get_settings.cache_clear()


def register(settings: Settings, *args: str) -> Result:
    url = ["--url", str(settings.database_url)]
    return CliRunner().invoke(app, ["models", "register", *args, *url], terminal_width=200)


def test_an_adapter_is_registered_once_and_announced(
    cli_settings: Settings, tiny: tuple[Path, Path], unique: str
) -> None:
    args = ["adapter", str(tiny[1]), "--name", f"cli-{unique}"]
    first, again = register(cli_settings, *args), register(cli_settings, *args)
    assert first.exit_code == 0, first.output
    assert first.output == again.output
    shown = json.loads(first.output)
    assert shown["status"] == "draft" and shown["base_model"] == str(tiny[0])
    stored = asyncio.run(_stored(cli_settings, shown["model_id"]))
    assert stored == str(tiny[1].resolve())
    events = asyncio.run(read_topic(cli_settings, MODEL_EVENTS_TOPIC))
    assert [e.name for e in events] == ["ModelRegistered", "ModelRegistered"]
    assert {e.record["event_id"] for e in events} == {shown["event_id"]}


def test_a_base_model_by_hub_id_and_a_conflict(cli_settings: Settings, unique: str) -> None:
    name = f"cli-{unique}"
    base = register(cli_settings, "base", "sshleifer/tiny-gpt2", "--name", name)
    assert base.exit_code == 0, base.output
    assert json.loads(base.output)["version"] == "base"
    other = register(cli_settings, "base", "sshleifer/tiny-gpt2-other", "--name", name)
    assert isinstance(other.exception, ConflictError), other.output
    assert "base_model 'sshleifer/tiny-gpt2'" in str(other.exception)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["base", "org/model", "--name", "x", "--model-id", "has space"], "model_id"),
        (["base", "org/model", "--name", "n" * 256], "name"),
        (["merged", "org/model", "--name", "x"], "kind"),
        (["adapter", "no-such-folder", "--name", "x"], "source"),
    ],
)
def test_bad_input_names_the_field(cli_settings: Settings, args: list[str], field: str) -> None:
    result = register(cli_settings, *args)
    assert isinstance(result.exception, InvalidEventError), result.output
    assert result.exception.field == field and field in str(result.exception)
    assert asyncio.run(read_topic(cli_settings, MODEL_EVENTS_TOPIC)) == []


async def _stored(settings: Settings, model_id: str) -> str | None:
    async with Database.from_settings(settings) as database:
        return (await ModelRepository(database).get(model_id)).adapter
