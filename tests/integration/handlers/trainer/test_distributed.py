"""A trainer with ``TRAIN_PROCESSES=2``: a job trains on two CPU ranks (gloo), and only rank 0's
adapter is registered, once; a process whose rank is not 0 never registers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.trainer import FAST, Harness, RunningTrainer, command, eventually
from tonebridge.client.publisher import ProducerPublisher
from tonebridge.errors import TrainingError
from tonebridge.handlers.datasets.files import BuiltDataset
from tonebridge.handlers.datasets.formats import Limits, Lineage
from tonebridge.handlers.evaluation import EvalConfig
from tonebridge.handlers.trainer.outcome import register
from tonebridge.handlers.trainer.plan import Plan
from tonebridge.settings import Settings
from tonebridge.storage.records import TrainingJobRecord
from tonebridge.topics.models import MODEL_EVENTS_TOPIC
from tonebridge.topics.training import TRAINING_COMMANDS_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def database_url(postgresql_url: str) -> str:
    """PostgreSQL only: what is tested here is the ranks, the same on either database."""
    return postgresql_url


@pytest.fixture
def trainer_settings(trainer_settings: Settings) -> Settings:
    return trainer_settings.model_copy(update={"train_processes": 2})


async def _ended(harness: Harness, command_id: str) -> TrainingJobRecord | None:
    """The job of ``command_id`` once it ended (two ranks start slowly on a busy CPU)."""
    jobs = await harness.jobs.list(limit=1000)
    ended = [j for j in jobs if j.command_id == command_id and j.status in ("completed", "failed")]
    return ended[0] if ended else None


async def test_a_job_on_two_ranks_registers_rank_0s_adapter_once(
    harness: Harness, trainer: RunningTrainer, tiny_model: Path
) -> None:
    base = await harness.base_model(tiny_model)
    await harness.feedback(base.id)
    sent = command("sft", model_id=base.id, config=FAST | {"max_steps": 6})
    await harness.send(TRAINING_COMMANDS_TOPIC, sent)
    job = await eventually(
        lambda: _ended(harness, sent["command_id"]), timeout_s=400, what="the job's end"
    )
    assert job.status == "completed", job.error_message

    launched = harness.settings.data_dir / "trainer" / "jobs" / job.id / "run" / "launch"
    reports = [json.loads(p.read_text()) for p in sorted(launched.glob("rank-*.json"))]
    assert [(r["rank"], r["process_world_size"], r["steps"]) for r in reports] == [
        (0, 2, 6),
        (1, 2, 6),
    ]
    assert reports[0]["final_digest"] == reports[1]["final_digest"]
    assert reports[0]["final_digest"] != reports[0]["initial_digest"]

    versions = harness.registry.client.search_model_versions(f"name='{base.name}'")
    assert len(versions) == 1
    announced = await harness.events(MODEL_EVENTS_TOPIC, lambda es: bool(es))
    assert [(e.name, e.record["job_id"]) for e in announced] == [("ModelRegistered", job.id)]
    trained = [m for m in await harness.models.list(name=base.name) if m.id != base.id]
    assert [m.training_job_id for m in trained] == [job.id]


async def test_a_rank_other_than_0_never_registers(harness: Harness, tmp_path: Path) -> None:
    job, _ = await harness.jobs.create_from_command(
        command_id=f"rank-{harness.unique}", kind="sft", base_model="local/tiny"
    )
    plan = Plan(
        job=job, command_id=job.command_id, kind="sft", base_model="local/tiny",
        name=f"tone-{harness.unique}", model_type="tone_adjustment", parent=None,
        baseline=None, options={}, limits=Limits(), eval_config=EvalConfig(),
    )  # fmt: skip
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"input_text": "hi", "target_text": "Hello."}) + "\n")
    data = BuiltDataset("sft", [], [], rows, rows, "ds-rank", Lineage(feedback_count=1))
    async with ProducerPublisher(harness.settings) as events:
        with pytest.raises(TrainingError, match="rank 1 of a distributed run does not register"):
            await register(
                harness.registry, harness.models, events, plan, data, tmp_path / "adapter",
                {"chrf": 1.0}, rank=1,
            )  # fmt: skip
        await register(
            harness.registry, harness.models, events, plan, data, tmp_path / "adapter",
            {"chrf": 1.0}, rank=0,
        )  # fmt: skip
    versions = harness.registry.client.search_model_versions(f"name = '{plan.name}'")
    assert [str(v.version) for v in versions] == ["1"]  # rank 0's, and only it
