"""End to end: a ModelChanged on the registry topic makes the example service swap adapters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.inference_service import RewriteService, create_app
from tests.support.samples import sample
from tonebridge.broker import EmbeddedBroker
from tonebridge.client.producer import EventProducer
from tonebridge.settings import Settings, load_settings
from tonebridge.topics.admin import create_topics
from tonebridge.topics.models import MODEL_CHANGED, MODEL_EVENTS_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TEXT, TONE = "send it asap", "formal"


def make_adapter(base: Path, directory: Path, seed: int) -> Path:
    """A LoRA adapter with random (not zero) B matrices: it visibly changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(
        r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(directory)
    return directory


def rewrite_with(base: Path, adapter: Path | None) -> str:
    from tonebridge.handlers.methods.inference import generate_rewrites, load_for_inference

    return generate_rewrites(load_for_inference(base, adapter), [(TEXT, TONE)])[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny base (not pre-trained: only the swap matters here) and two adapters."""
    from tonebridge.handlers.methods.tiny import ModelSpec, build_model

    root = tmp_path_factory.mktemp("models")
    base = build_model(root / "base", ModelSpec(pretrain_steps=0))
    first, second = make_adapter(base, root / "a", 1), make_adapter(base, root / "b", 2)
    expected = {name: rewrite_with(base, path) for name, path in (("a", first), ("b", second))}
    assert expected["a"] != expected["b"], "the adapters must be told apart by their output"
    return {"base": base, "a": first, "b": second, "expected": expected}


@pytest.fixture
async def settings(broker: EmbeddedBroker, unique: str, tmp_path: Path) -> Settings:
    configured = load_settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_topic_prefix=f"ex{unique}.",
        data_dir=tmp_path,
    )
    await create_topics(configured, [MODEL_EVENTS_TOPIC])
    return configured


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[tuple[RewriteService, httpx.AsyncClient]]:
    rewriter = RewriteService(settings, names={"tone-formal"})
    app = create_app(rewriter)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://svc") as client,
    ):
        yield rewriter, client


def changed(model_id: str, artifact: str, base: Path, **fields: Any) -> dict[str, Any]:
    record = sample(MODEL_CHANGED, 0) | {"model_id": model_id, "name": "tone-formal"}
    return record | {"artifact_uri": artifact, "base_model": str(base)} | fields


async def publish(settings: Settings, *records: dict[str, Any]) -> None:
    async with EventProducer(settings) as producer:
        for record in records:
            await producer.send(MODEL_EVENTS_TOPIC, record, MODEL_CHANGED)


async def served(client: httpx.AsyncClient, model_id: str, timeout_s: float = 60.0) -> None:
    """Wait until the service reports ``model_id`` (it loads in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get("/model")
        if response.status_code == 200 and response.json()["model_id"] == model_id:
            return
        assert time.monotonic() < deadline, f"still serving {response.text} instead of {model_id}"
        await asyncio.sleep(0.05)


async def test_deploys_and_rollbacks_swap_the_served_adapter(
    settings: Settings,
    service: tuple[RewriteService, httpx.AsyncClient],
    models: dict[str, Any],
) -> None:
    rewriter, client = service
    base, expected = models["base"], models["expected"]
    before = await client.post("/rewrite", json={"text": TEXT, "tone": TONE})
    assert before.status_code == 503

    await publish(settings, changed("tone-formal:1", str(models["a"]), base, version="1"))
    await served(client, "tone-formal:1")
    first = (await client.post("/rewrite", json={"text": TEXT, "tone": TONE})).json()
    assert (first["rewrite"], first["version"]) == (expected["a"], "1")

    rollback = changed("tone-formal:2", models["b"].as_uri(), base, change="rolled_back")
    await publish(settings, rollback)
    await served(client, "tone-formal:2")
    second = (await client.post("/rewrite", json={"text": TEXT, "tone": TONE})).json()
    assert second["rewrite"] == expected["b"]

    staging = changed("tone-formal:3", str(models["a"]), base, alias="staging")
    archived = changed("tone-formal:4", str(models["a"]), base, change="archived")
    await publish(settings, staging, archived, changed("tone-formal:1", str(models["a"]), base))
    await served(client, "tone-formal:1")
    assert rewriter.history == ["tone-formal:1", "tone-formal:2", "tone-formal:1"]
