"""Continual training, the trainer's side: the parent adapter a job continues, the older
feedback it replays. The rules are pure (:mod:`tonebridge.decisions.continual`); this module
finds what they decide over, in the registry and the database.

"Older" feedback is what the job's own window leaves out: the parent's feedback before the
window (``feedback_since``), and all the feedback of the parent's ancestors (the model each
trained version's job improved, back to the base) up to the window's end.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from tonebridge.decisions.continual import continued_adapter, replay_sample
from tonebridge.errors import NotFoundError
from tonebridge.handlers.registry.store import Registry
from tonebridge.handlers.trainer.plan import Plan
from tonebridge.storage import FeedbackRepository, ModelRepository, TrainingJobRepository
from tonebridge.storage.records import FeedbackRecord, FeedbackSelection

MAX_ANCESTORS = 32  # a lineage is walked this far at most (a guard, not a limit in practice)


async def start_adapter(registry: Registry, plan: Plan, into: Path) -> Path | None:
    """The local folder of the parent's adapter when the job continues it, else None."""
    parent = plan.parent
    if parent is None:
        return None
    adapter = continued_adapter(plan.start_from, parent.adapter, parent.base_model, plan.base_model)
    if adapter is None:
        return None
    return await asyncio.to_thread(registry.local_path, adapter, into)


async def lineage(models: ModelRepository, jobs: TrainingJobRepository, model_id: str) -> list[str]:
    """``model_id`` and its ancestors, nearest first."""
    ids = [model_id]
    while len(ids) < MAX_ANCESTORS:
        parent = await _parent_of(models, jobs, ids[-1])
        if parent is None or parent in ids:
            break
        ids.append(parent)
    return ids


async def _parent_of(
    models: ModelRepository, jobs: TrainingJobRepository, model_id: str
) -> str | None:
    try:
        model = await models.get(model_id)
        if model.training_job_id is None:
            return None  # a base model, or an adapter registered from outside
        return (await jobs.get(model.training_job_id)).parent_model_id
    except NotFoundError:
        return None


def replay_share(plan: Plan, default: float) -> float:
    """The share of older feedback the job replays: its own option, else ``default``; an
    evaluation replays none (it scores the window it was given)."""
    if plan.kind == "evaluate":
        return 0.0
    return default if plan.replay_fraction is None else plan.replay_fraction


def older_selections(window: FeedbackSelection, ancestry: list[str]) -> list[FeedbackSelection]:
    """The selections of what ``window`` leaves out over ``ancestry`` (its model first)."""
    before = [replace(window, since=None, until=window.since)] if window.since else []
    ancestors = [replace(window, model_id=model_id, since=None) for model_id in ancestry[1:]]
    return before + ancestors


async def replayed(
    feedback: FeedbackRepository,
    models: ModelRepository,
    jobs: TrainingJobRepository,
    window: FeedbackSelection,
    *,
    fraction: float,
    seed: int,
) -> list[FeedbackRecord]:
    """A seeded ``fraction`` of the feedback older than ``window``, oldest first."""
    if window.model_id is None or fraction == 0:
        return []
    ancestry = await lineage(models, jobs, window.model_id)
    older = [
        row
        for selection in older_selections(window, ancestry)
        for row in await feedback.for_training(selection)
    ]
    older.sort(key=lambda row: (row.created_at, row.id))
    return replay_sample(older, fraction, seed, key=lambda row: row.id)
