"""Every kind of training job, named once (typing only, so any process may import it).

The API, the retraining policies, the storage and the training topic read the kinds from
here; :data:`tonebridge.handlers.methods.registry.METHODS` gives each training kind its
config, dataset format and runner. Tests hold the ``TrainingCommand`` Avro enum, the
``training_jobs.kind`` check constraint and the registry to this list, so a kind added here
and forgotten there fails a test.
"""

from __future__ import annotations

from typing import Literal, get_args

# Learn from fixed rows only (no sampling while training): what ``POST /train`` offers.
OfflineKind = Literal["sft", "qlora", "dpo", "kto", "orpo"]
# Every training method; ``rlhf`` also samples online against a reward model (``POST /rlhf``).
TrainingKind = Literal[OfflineKind, "rlhf"]
# Every job a TrainingCommand can start; ``stop`` is a command but never a job.
JobKind = Literal[TrainingKind, "evaluate"]

OFFLINE_KINDS: tuple[OfflineKind, ...] = get_args(OfflineKind)
TRAINING_KINDS: tuple[TrainingKind, ...] = get_args(TrainingKind)
JOB_KINDS: tuple[JobKind, ...] = get_args(JobKind)
