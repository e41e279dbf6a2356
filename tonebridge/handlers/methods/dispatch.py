"""The uniform entry point: ``run_training(kind, config, data, ...)`` for every method.

Called from a worker thread, never the event loop: a run blocks for its whole duration.
Runs in one process are serialised by a lock, because trainers share process-wide state
(the global RNG seeded per run, accelerate's ``PartialState``, the CUDA allocator).
Nothing here installs signal handlers; stopping is cooperative through ``should_stop``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, cast, get_args

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods.config import TrainingConfig, parse_config
from tonebridge.handlers.methods.control import (
    ProgressSink,
    RunControl,
    StopSignal,
    TrainingResult,
)
from tonebridge.handlers.methods.dpo import DPOConfig, train_dpo
from tonebridge.handlers.methods.examples import (
    LabeledRewrite,
    PreferenceExample,
    RatedRewrite,
    RewriteExample,
    Row,
)
from tonebridge.handlers.methods.kto import KTOConfig, train_kto
from tonebridge.handlers.methods.rlhf import RLHFConfig, train_rlhf
from tonebridge.handlers.methods.sft import SFTConfig, train_sft
from tonebridge.settings import Settings, get_settings

TrainingKind = Literal["sft", "qlora", "dpo", "kto", "rlhf"]
TRAINING_KINDS: tuple[TrainingKind, ...] = get_args(TrainingKind)

CONFIG_TYPES: Mapping[TrainingKind, type[TrainingConfig]] = {
    "sft": SFTConfig,
    "qlora": SFTConfig,
    "dpo": DPOConfig,
    "kto": KTOConfig,
    "rlhf": RLHFConfig,
}

_RUN_LOCK = threading.Lock()


def make_config(
    kind: str,
    base_model: str,
    options: Mapping[str, object] | None = None,
    *,
    settings: Settings | None = None,
) -> TrainingConfig:
    """The config for ``kind`` from the deployment's defaults and a job's options (JSON)."""
    config_type = CONFIG_TYPES[_kind(kind)]
    values = dict(options or {})
    if kind == "qlora":
        values.setdefault("quantization", "4bit")
    return config_type.from_settings(base_model, settings or get_settings(), **values)


def run_training(
    kind: str,
    config: TrainingConfig,
    data: Sequence[Row],
    *,
    output_dir: Path,
    progress: ProgressSink | None = None,
    should_stop: StopSignal | None = None,
) -> TrainingResult:
    """Train ``kind`` on ``data``; blocks until the run completes or is stopped.

    ``data`` rows by kind: sft/qlora ``RewriteExample``, dpo ``PreferenceExample``,
    kto ``LabeledRewrite``, rlhf ``RatedRewrite``. ``progress`` gets a
    :class:`ProgressUpdate` every ``config.log_every_steps`` optimizer steps;
    ``should_stop`` is polled after every step. Raises :class:`TrainingError` (or its
    :class:`UnsupportedModelError`) with the reason when the run cannot be done.
    """
    checked = _kind(kind)
    config = _checked_config(checked, config)
    run = RunControl(output_dir=output_dir, progress=progress, should_stop=should_stop)
    output_dir.mkdir(parents=True, exist_ok=True)
    with _RUN_LOCK, _torch_threads(config.cpu_threads):
        return _dispatch(checked, config, data, run)


@contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Use ``count`` CPU threads for the run, then restore (process-wide, hence the lock)."""
    if count is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _dispatch(
    kind: TrainingKind, config: TrainingConfig, data: Sequence[Row], run: RunControl
) -> TrainingResult:
    # Each runner checks every row's type itself (require_rows), hence the casts.
    if isinstance(config, SFTConfig):
        return train_sft(config, cast("Sequence[RewriteExample]", data), run, kind=kind)
    if isinstance(config, DPOConfig):
        return train_dpo(config, cast("Sequence[PreferenceExample]", data), run)
    if isinstance(config, KTOConfig):
        return train_kto(config, cast("Sequence[LabeledRewrite]", data), run)
    if isinstance(config, RLHFConfig):
        return train_rlhf(config, cast("Sequence[RatedRewrite]", data), run)
    msg = f"no runner for {type(config).__name__}"
    raise TrainingError(msg)


def _kind(kind: str) -> TrainingKind:
    if kind in TRAINING_KINDS:
        return kind  # narrowed by the membership test
    msg = f"unknown training kind {kind!r}; expected one of {', '.join(TRAINING_KINDS)}"
    raise TrainingError(msg)


def _checked_config(kind: TrainingKind, config: TrainingConfig) -> TrainingConfig:
    expected = CONFIG_TYPES[kind]
    if type(config) is not expected:
        msg = f"{kind} needs a {expected.__name__}, got {type(config).__name__}"
        raise TrainingError(msg)
    if kind == "qlora" and config.quantization == "none":
        return parse_config(expected, {**config.model_dump(), "quantization": "4bit"})
    return config
