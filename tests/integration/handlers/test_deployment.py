"""Deploy, roll back and archive: models rows, MLflow aliases and ModelChanged events agree."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.trainer import Harness
from tonebridge.client.publisher import ProducerPublisher
from tonebridge.errors import ConflictError
from tonebridge.handlers.registry.deployment import Deployer
from tonebridge.handlers.registry.store import PRODUCTION
from tonebridge.storage.records import ModelRecord
from tonebridge.topics.models import MODEL_EVENTS_TOPIC

pytestmark = pytest.mark.integration


@pytest.fixture
async def events(harness: Harness) -> AsyncIterator[ProducerPublisher]:
    async with ProducerPublisher(harness.settings) as publisher:
        yield publisher


async def trained(harness: Harness, base: ModelRecord, tmp_path: Path, n: int) -> ModelRecord:
    """A registered version as a job would leave it (without the training)."""
    adapter = tmp_path / f"adapter-{n}"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"n": n}))
    run_id = harness.registry.start_run(f"v{n}", {"n": n})
    source = harness.registry.log_adapter(run_id, adapter)
    harness.registry.end_run(run_id)
    version = harness.registry.register_version(base.name, source, run_id)
    return await harness.models.add(
        name=base.name,
        version=version.version,
        model_type=base.model_type,
        base_model=base.base_model,
        path=source,
        mlflow_run_id=run_id,
    )


async def test_deploy_deploy_rollback_archive(
    harness: Harness, events: ProducerPublisher, tmp_path: Path
) -> None:
    base = await harness.models.ensure_base(f"tone-{harness.unique}", "tiny")
    first = await trained(harness, base, tmp_path, 1)
    second = await trained(harness, base, tmp_path, 2)
    deployer = Deployer(harness.models, harness.registry, events)

    await deployer.deploy(first.id)
    change = await deployer.deploy(second.id, reason="better chrF")
    assert (change.previous and change.previous.id) == first.id
    assert harness.registry.alias_version(base.name, PRODUCTION) == second.version
    back = await deployer.rollback(second.id, reason="guardrail")
    assert (back.model.id, back.previous and back.previous.id) == (first.id, second.id)
    assert harness.registry.alias_version(base.name, PRODUCTION) == first.version
    assert (await harness.models.get_production(base.name)) == back.model
    with pytest.raises(ConflictError, match="not production"):
        await deployer.rollback(second.id)
    with pytest.raises(ConflictError, match="in production"):
        await deployer.archive(first.id)
    archived = await deployer.archive(second.id)
    assert archived.model.status == "archived"
    with pytest.raises(ConflictError, match="archived"):
        await deployer.deploy(second.id)
    assert (await harness.models.get_production(base.name)) == back.model

    landed = await harness.events(MODEL_EVENTS_TOPIC, lambda es: len(es) >= 4, timeout_s=30)
    changes = [(e.record["change"], e.record["model_id"], e.record["reason"]) for e in landed]
    assert changes == [
        ("deployed", first.id, None),
        ("deployed", second.id, "better chrF"),
        ("rolled_back", first.id, "guardrail"),
        ("archived", second.id, None),
    ]
    # Back to the base model: the alias goes, the base row serves again.
    await deployer.rollback(first.id)
    assert harness.registry.alias_version(base.name, PRODUCTION) is None
    assert (await harness.models.get(base.id)).status == "production"


async def test_deploying_twice_is_harmless(
    harness: Harness, events: ProducerPublisher, tmp_path: Path
) -> None:
    base = await harness.models.ensure_base(f"tone-{harness.unique}", "tiny")
    first = await trained(harness, base, tmp_path, 1)
    deployer = Deployer(harness.models, harness.registry, events)
    await deployer.deploy(first.id)
    again = await deployer.deploy(first.id)
    assert again.model.status == "production"
    assert harness.registry.alias_version(base.name, PRODUCTION) == first.version
    back = await deployer.rollback(first.id)
    assert back.model.id == base.id
