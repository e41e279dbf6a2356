"""What every runner does around its trl trainer: arguments, training, metrics, saving.

Heavy module (torch, transformers): imported only inside the runners.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from datasets.utils.logging import disable_progress_bar
from transformers import PrinterCallback, Trainer, set_seed
from transformers.utils import logging as transformers_logging

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods import loading
from tonebridge.handlers.methods.callbacks import ProgressCallback
from tonebridge.handlers.methods.config import TrainingConfig
from tonebridge.handlers.methods.control import (
    FINAL_MARKER,
    LoggedStep,
    RunControl,
    TrainingResult,
)
from tonebridge.handlers.methods.loading import Hardware, mixed_precision
from tonebridge.handlers.methods.tracking import NO_TRACKING, Tracking, report_arguments


@dataclass(frozen=True, slots=True)
class PhaseOutcome:
    """One trainer's run: stopped early or not, how far it got and what it measured
    (at the end, and at every logged step)."""

    stopped: bool
    steps: int
    total_steps: int
    epochs: float
    metrics: dict[str, float]
    history: tuple[LoggedStep, ...] = ()


@dataclass(frozen=True, slots=True)
class Fit:
    """One offline method's trl side: its config's extra arguments and its trainer class."""

    phase: str  # as progress reports name it (qlora trains as "sft")
    trainer_type: Any  # a trl trainer class
    trl_args: Callable[[Hardware, dict[str, Any]], Any]  # the trl config, from the common ones


def fit_adapter(
    kind: str, config: TrainingConfig, run: RunControl, fit: Fit, records: list[dict[str, Any]]
) -> TrainingResult:
    """What every offline method does: load the model, train a LoRA adapter on ``records``
    with trl (a fresh one, or ``run.start_adapter`` continued), and save it unless stopped."""
    prepare(config)
    hardware = loading.detect_hardware()
    tokenizer = loading.load_tokenizer(config.base_model, token=run.tracking.huggingface_token)
    base = loading.load_causal_lm(config, hardware, token=run.tracking.huggingface_token)
    model, peft_config = loading.trainable_adapter(base, config, run.start_adapter)
    common = trainer_arguments(
        config, run.output_dir / "trainer", hardware, run.tracking, run.trainer_options
    )
    with training_errors(f"preparing {fit.phase.upper()}"):
        trainer = fit.trainer_type(
            model=model,
            args=fit.trl_args(hardware, common),
            train_dataset=Dataset.from_list(records),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
    outcome = run_phase(trainer, ProgressCallback(run, fit.phase))
    return finish(kind, config, trainer, outcome, run)


def prepare(config: TrainingConfig) -> None:
    """Process-wide state a run depends on; callers hold the run lock (see runner).

    Progress bars are turned off for good: in a worker they only fill the log, and
    progress is reported through the run's sink instead.
    """
    disable_progress_bar()
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    set_seed(config.seed)


def trainer_arguments(
    config: TrainingConfig,
    output_dir: Path,
    hardware: Hardware,
    tracking: Tracking = NO_TRACKING,
    options: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """Keyword arguments every trl config accepts, set explicitly (trl's defaults assume a GPU
    and bf16); ``report_to`` is W&B when the run's tracking has a key, else none; then the
    run's ``options`` (a distributed run's backend and DeepSpeed config)."""
    mode = mixed_precision(config.precision, hardware)
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps or -1,
        "warmup_steps": config.warmup_steps,
        "weight_decay": config.weight_decay,
        "lr_scheduler_type": config.lr_scheduler,
        "gradient_checkpointing": config.gradient_checkpointing,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "fp16": mode == "fp16",
        "bf16": mode == "bf16",
        "use_cpu": not hardware.cuda,
        "optim": "adamw_torch_fused",
        "dataloader_pin_memory": hardware.cuda,
        "seed": config.seed,
        "data_seed": config.seed,
        "logging_steps": config.log_every_steps,
        "logging_first_step": True,
        "save_strategy": "no",
        "disable_tqdm": True,
        **report_arguments(tracking),
        **(options or {}),
    }


@contextmanager
def training_errors(stage: str) -> Iterator[None]:
    """Failures of torch/trl while ``stage`` runs become :class:`TrainingError` with the reason."""
    try:
        yield
    except (torch.OutOfMemoryError, MemoryError) as exc:
        msg = f"{stage}: out of memory ({exc}); lower batch_size or max_seq_length"
        raise TrainingError(msg) from exc
    except (ValueError, RuntimeError, KeyError, IndexError) as exc:
        msg = f"{stage}: {type(exc).__name__}: {exc}"
        raise TrainingError(msg) from exc


def run_phase(trainer: Trainer, callback: ProgressCallback) -> PhaseOutcome:
    """Train with ``callback`` attached; translate failures; summarise what happened."""
    # Progress goes to the run's sink; the stdout printer would only fill worker logs.
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(callback)
    for extra in callback.run.callbacks:
        trainer.add_callback(extra)
    _require_examples(trainer.train_dataset, callback.phase)
    with training_errors(f"{callback.phase} training"):
        output = trainer.train()
    state = trainer.state
    metrics = {**_logged_metrics(state.log_history), **_numbers(output.metrics)}
    metrics["train_loss"] = float(output.training_loss)
    metrics.update(_throughput(trainer, metrics))
    return PhaseOutcome(
        stopped=callback.stopped,
        steps=state.global_step,
        total_steps=state.max_steps,
        epochs=float(state.epoch or 0.0),
        metrics=metrics,
        history=tuple(callback.history),
    )


def _require_examples(dataset: object, phase: str) -> None:
    """trl drops rows whose completion is cut off entirely; none left is a clear error."""
    if isinstance(dataset, Sized) and len(dataset) == 0:
        msg = (
            f"{phase}: no training example is left after tokenization; every row needs "
            "completion tokens within max_seq_length"
        )
        raise TrainingError(msg)


def _numbers(values: Mapping[str, object]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, int | float)}


def _logged_metrics(history: Sequence[Mapping[str, object]]) -> dict[str, float]:
    """The last logged value of every metric, and the first logged loss."""
    metrics: dict[str, float] = {}
    for entry in history:
        metrics.update(_numbers(entry))
    losses = [entry["loss"] for entry in map(_numbers, history) if "loss" in entry]
    if losses:
        metrics["first_loss"], metrics["final_loss"] = losses[0], losses[-1]
    for key in ("step", "epoch"):
        metrics.pop(key, None)
    return metrics


def _throughput(trainer: Trainer, metrics: Mapping[str, float]) -> dict[str, float]:
    """Tokens per second: trl's own count when it logs one, else the tokenized training set's."""
    runtime = metrics.get("train_runtime")
    tokens = metrics.get("num_tokens") or float(trainer.state.num_input_tokens_seen or 0)
    if not tokens:
        tokens = dataset_tokens(trainer.train_dataset) * float(trainer.state.epoch or 0.0)
    if not runtime or not tokens:
        return {}
    return {"tokens_seen": tokens, "tokens_per_second": tokens / runtime}


def dataset_tokens(dataset: object) -> int:
    """Tokens in one pass over a tokenized dataset (every ``*_ids`` column)."""
    if not isinstance(dataset, Dataset):
        return 0
    columns = [name for name in dataset.column_names if name.endswith("_ids")]
    return sum(len(ids) for name in columns for ids in dataset[name])


def save_adapter(trainer: Trainer, directory: Path, info: Mapping[str, object]) -> Path | None:
    """Save the trained adapter and tokenizer, then mark the directory final (atomically).

    In a distributed run every process takes part in saving (DeepSpeed gathers sharded
    weights) but only the first writes: the others return None, they have no adapter.
    """
    with training_errors("saving the adapter"):
        trainer.save_model(str(directory))
    if not trainer.is_world_process_zero():
        return None
    write_json_atomically(directory / FINAL_MARKER, {"final": True, **info})
    return directory


def write_json_atomically(path: Path, payload: Mapping[str, object]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(payload, stream, indent=2, sort_keys=True, default=str)
    os.replace(temporary, path)


def finish(
    kind: str,
    config: TrainingConfig,
    trainer: Trainer,
    outcome: PhaseOutcome,
    run: RunControl,
    artifacts: Mapping[str, Path] | None = None,
) -> TrainingResult:
    """The run's result; only a completed run saves an adapter and marks it final."""
    adapter_dir = None
    if not outcome.stopped:
        info = {
            "kind": kind,
            "base_model": config.base_model,
            "steps": outcome.steps,
            "metrics": outcome.metrics,
        }
        adapter_dir = save_adapter(trainer, run.output_dir / "adapter", info)
    return TrainingResult(
        kind=kind,
        status="stopped" if outcome.stopped else "completed",
        adapter_dir=adapter_dir,
        steps=outcome.steps,
        total_steps=outcome.total_steps,
        epochs=outcome.epochs,
        metrics=outcome.metrics,
        artifacts=dict(artifacts or {}),
        history=outcome.history,
    )
