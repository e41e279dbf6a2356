"""Registration is idempotent per job: a failure after the MLflow version exists is retried
to exactly one version, one ``models`` row and one ModelRegistered; giving up removes it all.

The failure is injected through the registration's checkpoint seam, between the MLflow
version and the row; MLflow, the database and the broker are the real ones.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.trainer import Harness
from tonebridge.client.publisher import ProducerPublisher
from tonebridge.errors import IntegrityError
from tonebridge.handlers.datasets.files import BuiltDataset
from tonebridge.handlers.datasets.formats import Limits, Lineage
from tonebridge.handlers.evaluation import EvalConfig
from tonebridge.handlers.registry.store import RegisteredVersion
from tonebridge.handlers.trainer.outcome import model_id_for, register
from tonebridge.handlers.trainer.plan import Plan
from tonebridge.retry import Backoff
from tonebridge.topics.models import MODEL_EVENTS_TOPIC

pytestmark = pytest.mark.integration
QUICK = Backoff(base_s=0.01, cap_s=0.05, attempts=3)


@pytest.fixture
async def events(harness: Harness) -> AsyncIterator[ProducerPublisher]:
    async with ProducerPublisher(harness.settings) as publisher:
        yield publisher


async def a_plan(harness: Harness) -> Plan:
    job, _ = await harness.jobs.create_from_command(
        command_id=f"reg-{harness.unique}", kind="sft", base_model="local/tiny"
    )
    job = await harness.jobs.mark_running(job.id, "w")
    return Plan(
        job=job, command_id=job.command_id, kind="sft", base_model="local/tiny",
        name=f"tone-{harness.unique}", model_type="tone_adjustment", parent=None,
        baseline=None, options={}, limits=Limits(), eval_config=EvalConfig(),
    )  # fmt: skip


def a_run(tmp_path: Path) -> tuple[BuiltDataset, Path]:
    rows = [{"input_text": "hi", "target_text": "Hello."}]
    paths = [tmp_path / "train.jsonl", tmp_path / "validation.jsonl"]
    for path in paths:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    data = BuiltDataset("sft", [], [], paths[0], paths[1], "ds-reg", Lineage(feedback_count=1))
    return data, adapter


def failing(times: int, error: Exception) -> tuple[list[str], object]:
    seen: list[str] = []

    async def checkpoint(version: RegisteredVersion) -> None:
        seen.append(version.version)
        if len(seen) <= times:
            raise error

    return seen, checkpoint


async def test_a_registration_failing_after_the_version_completes_on_retry(
    harness: Harness, events: ProducerPublisher, tmp_path: Path
) -> None:
    plan = await a_plan(harness)
    data, adapter = a_run(tmp_path)
    seen, checkpoint = failing(2, ConnectionRefusedError(111, "database down"))
    done = await register(
        harness.registry, harness.models, events, plan, data, adapter, {"chrf": 1.0},
        backoff=QUICK, checkpoint=checkpoint,  # type: ignore[arg-type]
    )  # fmt: skip
    assert seen == ["1", "1", "1"]  # each retry found the version the first try made
    versions = harness.registry.client.search_model_versions(f"name = '{plan.name}'")
    assert [str(v.version) for v in versions] == ["1"]
    assert [m.id for m in await harness.models.list(name=plan.name)] == [model_id_for(plan.job.id)]
    assert (done.model.version, done.model.path) == ("1", versions[0].source)
    announced = await harness.events(MODEL_EVENTS_TOPIC, lambda es: bool(es), timeout_s=30)
    assert [(e.name, e.record["model_id"]) for e in announced] == [
        ("ModelRegistered", done.model.id)
    ]


@pytest.mark.parametrize(
    ("error", "tries"),
    [(IntegrityError("constraint violated"), 1), (OSError("still down"), QUICK.attempts)],
)
async def test_a_registration_that_gives_up_leaves_no_version_and_no_row(
    harness: Harness, events: ProducerPublisher, tmp_path: Path, error: Exception, tries: int
) -> None:
    plan = await a_plan(harness)
    data, adapter = a_run(tmp_path)
    seen, checkpoint = failing(100, error)
    with pytest.raises(type(error)):
        await register(
            harness.registry, harness.models, events, plan, data, adapter, {},
            backoff=QUICK, checkpoint=checkpoint,  # type: ignore[arg-type]
        )  # fmt: skip
    assert len(seen) == tries
    assert harness.registry.client.search_model_versions(f"name = '{plan.name}'") == []
    assert await harness.models.list(name=plan.name) == []
