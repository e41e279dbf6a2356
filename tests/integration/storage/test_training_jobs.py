from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tonebridge.errors import ConflictError, IntegrityError, NotFoundError, StoreError
from tonebridge.retry import is_transient
from tonebridge.storage import Database, DatasetRepository, ModelRepository, TrainingJobRepository
from tonebridge.storage.records import TrainingJobRecord
from tonebridge.storage.types import utc_now

pytestmark = pytest.mark.integration


async def new_job(repo: TrainingJobRepository, command_id: str) -> TrainingJobRecord:
    job, created = await repo.create_from_command(
        command_id=command_id, kind="sft", base_model="tiny-base", config={"epochs": 1}
    )
    assert created
    return job


async def test_a_replayed_command_makes_one_job(database: Database, unique: str) -> None:
    repo = TrainingJobRepository(database)
    first, created_first = await repo.create_from_command(
        command_id=f"cmd-{unique}", kind="dpo", base_model="tiny-base", hyperparameters={"lr": 1e-4}
    )
    again, created_again = await repo.create_from_command(
        command_id=f"cmd-{unique}", kind="dpo", base_model="another"
    )
    assert (created_first, created_again) == (True, False)
    assert again == first
    assert (first.status, first.progress, first.hyperparameters) == ("pending", 0.0, {"lr": 1e-4})
    assert await repo.get_by_command_id(f"cmd-{unique}") == first
    pending = await repo.list(status="pending", kind="dpo", limit=1000)
    assert [job.id for job in pending].count(first.id) == 1


async def test_references_must_exist(database: Database, unique: str) -> None:
    repo = TrainingJobRepository(database)
    with pytest.raises(IntegrityError, match="unknown dataset_id 'nope'"):
        await repo.create_from_command(
            command_id=f"cmd-{unique}", kind="sft", base_model="b", dataset_id="nope"
        )
    with pytest.raises(IntegrityError, match="unknown parent_model_id 'nope'"):
        await repo.create_from_command(
            command_id=f"cmd-{unique}", kind="sft", base_model="b", parent_model_id="nope"
        )
    with pytest.raises(NotFoundError):
        await repo.get_by_command_id(f"cmd-{unique}")


async def test_job_links_dataset_and_parent_model(database: Database, unique: str) -> None:
    dataset = await DatasetRepository(database).add(
        name=f"ds-{unique}", type="training", file_path="/data/x.jsonl", format="jsonl"
    )
    parent = await ModelRepository(database).ensure_base(f"tone-{unique}", "tiny-base")
    job, _ = await TrainingJobRepository(database).create_from_command(
        command_id=f"cmd-{unique}",
        kind="kto",
        base_model=None,
        dataset_id=dataset.id,
        parent_model_id=parent.id,
    )
    assert (job.dataset_id, job.parent_model_id, job.base_model) == (dataset.id, parent.id, None)


async def test_a_job_runs_reports_progress_and_completes(database: Database, unique: str) -> None:
    repo = TrainingJobRepository(database)
    job = await new_job(repo, f"cmd-{unique}")
    running = await repo.mark_running(job.id, f"worker-{unique}")
    assert (running.status, running.worker_id) == ("running", f"worker-{unique}")
    progressed = await repo.update_progress(job.id, 0.5, {"loss": 1.25})
    assert (progressed.progress, progressed.metrics) == (0.5, {"loss": 1.25})
    done = await repo.finish(job.id, "completed", metrics={"loss": 0.5})
    assert (done.status, done.progress, done.finished) == ("completed", 1.0, True)
    assert done.started_at is not None and done.completed_at is not None
    assert done.created_at <= done.started_at <= done.completed_at
    for moment in (done.created_at, done.started_at, done.completed_at):
        assert moment.utcoffset() == timedelta(0)


async def test_a_finished_job_cannot_be_stopped_or_finished_again(
    database: Database, unique: str
) -> None:
    repo = TrainingJobRepository(database)
    job = await new_job(repo, f"cmd-{unique}")
    await repo.mark_running(job.id, "w")
    await repo.finish(job.id, "completed")
    with pytest.raises(ConflictError, match="cannot stop training job .* it is completed"):
        await repo.request_stop(job.id)
    with pytest.raises(ConflictError, match="it is completed"):
        await repo.finish(job.id, "failed", error="late")
    with pytest.raises(ConflictError, match="it is completed"):
        await repo.update_progress(job.id, 0.9)
    assert (await repo.get(job.id)).status == "completed"


async def test_stopping_a_pending_job_stops_it_at_once(database: Database, unique: str) -> None:
    repo = TrainingJobRepository(database)
    job = await new_job(repo, f"cmd-{unique}")
    stopped = await repo.request_stop(job.id)
    assert (stopped.status, stopped.stop_requested) == ("stopped", True)
    assert await repo.request_stop(job.id) == stopped  # a second stop is a no-op
    with pytest.raises(ConflictError, match="cannot start training job .* it is stopped"):
        await repo.mark_running(job.id, "w")


async def test_stopping_a_running_job_asks_its_trainer(database: Database, unique: str) -> None:
    repo = TrainingJobRepository(database)
    job = await new_job(repo, f"cmd-{unique}")
    await repo.mark_running(job.id, "w")
    asked = await repo.request_stop(job.id)
    assert (asked.status, asked.stop_requested) == ("running", True)
    assert (await repo.update_progress(job.id, 0.3)).stop_requested
    assert (await repo.finish(job.id, "stopped")).status == "stopped"


async def test_only_a_running_job_can_complete(database: Database, unique: str) -> None:
    repo = TrainingJobRepository(database)
    job = await new_job(repo, f"cmd-{unique}")
    with pytest.raises(ConflictError, match="it is pending"):
        await repo.finish(job.id, "completed")
    with pytest.raises(ConflictError, match="it is pending"):
        await repo.update_progress(job.id, 0.1)
    failed = await repo.finish(job.id, "failed", error="dataset is empty")
    assert (failed.status, failed.error_message) == ("failed", "dataset is empty")


async def test_progress_outside_0_1_is_refused(database: Database, unique: str) -> None:
    repo = TrainingJobRepository(database)
    job = await new_job(repo, f"cmd-{unique}")
    await repo.mark_running(job.id, "w")
    with pytest.raises(IntegrityError, match="progress 1.5 is outside 0..1"):
        await repo.update_progress(job.id, 1.5)


async def test_two_trainers_racing_for_a_job_have_one_winner(
    database: Database, unique: str
) -> None:
    repo = TrainingJobRepository(database)
    job = await new_job(repo, f"cmd-{unique}")
    outcomes = await asyncio.gather(
        *(repo.mark_running(job.id, f"w{n}") for n in range(4)), return_exceptions=True
    )
    winners = [o for o in outcomes if isinstance(o, TrainingJobRecord)]
    assert len(winners) == 1
    assert all(isinstance(o, ConflictError) for o in outcomes if o not in winners)
    assert (await repo.get(job.id)).worker_id == winners[0].worker_id


async def test_orphaned_running_jobs_of_a_worker_are_failed(
    database: Database, unique: str
) -> None:
    repo = TrainingJobRepository(database)
    mine = [await new_job(repo, f"cmd-{unique}-{n}") for n in range(3)]
    theirs = await new_job(repo, f"cmd-{unique}-other")
    for job in mine[:2]:
        await repo.mark_running(job.id, f"crashed-{unique}")
    await repo.mark_running(theirs.id, f"alive-{unique}")
    failed = await repo.fail_orphans(f"crashed-{unique}", "trainer restarted")
    assert failed == sorted(job.id for job in mine[:2])
    orphan = await repo.get(mine[0].id)
    assert (orphan.status, orphan.error_message) == ("failed", "trainer restarted")
    assert (await repo.get(mine[2].id)).status == "pending"
    assert (await repo.get(theirs.id)).status == "running"
    assert theirs.id in await repo.fail_orphans(None, "cluster restarted")
    assert (await repo.get(theirs.id)).status == "failed"


async def test_unknown_job_is_not_found(database: Database) -> None:
    repo = TrainingJobRepository(database)
    with pytest.raises(NotFoundError, match="no training job with id 'missing'"):
        await repo.get("missing")
    with pytest.raises(NotFoundError):
        await repo.request_stop("missing")
    with pytest.raises(NotFoundError):
        await repo.mark_running("missing", "w")


async def test_a_running_job_beats_and_only_an_expired_lease_fails_it(
    database: Database, unique: str
) -> None:
    repo = TrainingJobRepository(database)
    stale = await new_job(repo, f"stale-{unique}")
    fresh = await new_job(repo, f"fresh-{unique}")
    await repo.mark_running(stale.id, "worker-a")
    await repo.mark_running(fresh.id, "worker-b")
    assert await repo.beat(fresh.id, "worker-b")
    assert not await repo.beat(fresh.id, "worker-a")  # not its job
    cutoff = utc_now()  # both heartbeats are older; beat the fresh one after it
    assert await repo.beat(fresh.id, "worker-b")
    failed = await repo.fail_expired(cutoff, "lease expired")
    assert stale.id in failed and fresh.id not in failed
    ended = await repo.get(stale.id)
    assert (ended.status, ended.error_message) == ("failed", "lease expired")
    assert (await repo.get(fresh.id)).status == "running"
    assert not await repo.beat(stale.id, "worker-a")  # a failed job's trainer learns it


async def test_a_nul_the_database_refuses_is_not_transient(database: Database, unique: str) -> None:
    repo = TrainingJobRepository(database)
    if database.dialect != "postgresql":
        job, _ = await repo.create_from_command(
            command_id=f"nul-{unique}", kind="sft", base_model="a\x00b"
        )  # SQLite stores it: only the input rules keep it out
        assert job.base_model == "a\x00b"
        return
    with pytest.raises(StoreError) as refused:
        await repo.create_from_command(command_id=f"nul-{unique}", kind="sft", base_model="a\x00b")
    assert not is_transient(refused.value)
    assert is_transient(StoreError("database error: connection refused"))


async def test_search_finds_jobs_by_id(database: Database, unique: str) -> None:
    repo = TrainingJobRepository(database)
    job = await new_job(repo, f"cmd-{unique}")
    assert [j.id for j in await repo.list(search=job.id[3:12].upper())] == [job.id]
    assert await repo.list(search=f"no-such-{unique}") == []
