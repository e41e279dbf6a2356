"""Every training method in one table: ``{kind: Method(config, dataset format, rows, runner)}``.

The runner dispatch, the config a job's options become, the dataset a job's feedback becomes
and the rows its runner takes all come from :data:`METHODS`; the kinds themselves are named in
:mod:`tonebridge.job_kinds`, which the API and the retraining policies read without importing
this. Light: the runners import torch, transformers, peft and trl only when they run.

Adding a method (as in trl, one module per method): its module with a config and a runner,
one entry here, its kind in :mod:`tonebridge.job_kinds`, the symbol at the end of the
``TrainingCommand`` Avro enum (a new schema version) and a migration widening
``training_jobs.kind``; tests fail until all of them agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

from tonebridge.errors import TrainingError
from tonebridge.handlers.datasets.formats import DatasetFormat
from tonebridge.handlers.methods.config import TrainingConfig
from tonebridge.handlers.methods.control import RunControl, TrainingResult
from tonebridge.handlers.methods.dpo import DPOConfig, train_dpo
from tonebridge.handlers.methods.examples import (
    LabeledRewrite,
    PreferenceExample,
    RatedRewrite,
    RewriteExample,
    Row,
)
from tonebridge.handlers.methods.kto import KTOConfig, train_kto
from tonebridge.handlers.methods.orpo import ORPOConfig, train_orpo
from tonebridge.handlers.methods.rlhf import RLHFConfig, train_rlhf
from tonebridge.handlers.methods.sft import SFTConfig, train_sft
from tonebridge.job_kinds import TRAINING_KINDS, TrainingKind

# (config, rows, run) -> result; each runner checks its rows' type itself (require_rows).
Runner = Callable[[Any, Sequence[Any], RunControl], TrainingResult]
# An evaluation job reads held-out rewrites, the rows SFT trains on.
EVALUATION_FORMAT: DatasetFormat = "sft"


@dataclass(frozen=True, slots=True)
class Method:
    """One training method: what its options, its data and its run are.

    ``defaults`` are options the kind sets unless the job sets them (qlora: a 4-bit base).
    """

    config: type[TrainingConfig]
    dataset_format: DatasetFormat
    rows: type[Row]
    runner: Runner
    defaults: Mapping[str, object] = field(default_factory=dict)


METHODS: Mapping[TrainingKind, Method] = MappingProxyType(
    {
        "sft": Method(SFTConfig, "sft", RewriteExample, train_sft),
        "qlora": Method(
            SFTConfig,
            "sft",
            RewriteExample,
            partial(train_sft, kind="qlora"),
            defaults={"quantization": "4bit"},
        ),
        "dpo": Method(DPOConfig, "dpo", PreferenceExample, train_dpo),
        "kto": Method(KTOConfig, "kto", LabeledRewrite, train_kto),
        "rlhf": Method(RLHFConfig, "reward", RatedRewrite, train_rlhf),
        "orpo": Method(ORPOConfig, "dpo", PreferenceExample, train_orpo),
    }
)


def method_for(kind: str) -> Method:
    """The method of ``kind``; :class:`TrainingError` naming the known kinds otherwise."""
    if kind in TRAINING_KINDS:
        return METHODS[kind]  # narrowed by the membership test
    msg = f"unknown training kind {kind!r}; expected one of {', '.join(TRAINING_KINDS)}"
    raise TrainingError(msg)


def dataset_format(kind: str) -> DatasetFormat:
    """The rows a job of ``kind`` is trained (or, for ``evaluate``, evaluated) on."""
    if kind == "evaluate":
        return EVALUATION_FORMAT
    return method_for(kind).dataset_format


def runner_rows(kind: str, rows: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Dataset rows (dicts with the row type's field names) as the runner of ``kind`` takes."""
    row_type = method_for(kind).rows
    return [row_type(**row) for row in rows]
