"""The uniform entry point: ``run_training(kind, config, data, ...)`` for every method.

Called from a worker thread, never the event loop: a run blocks for its whole duration.
Runs in one process are serialised by a lock, because trainers share process-wide state
(the global RNG seeded per run, accelerate's ``PartialState``, the CUDA allocator).
Nothing here installs signal handlers; stopping is cooperative through ``should_stop``.
With ``parallel`` naming several processes (or DeepSpeed) a run trains under torchrun
instead (:mod:`~tonebridge.handlers.methods.distributed`), each rank through :func:`run_with`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods.config import TrainingConfig, parse_config
from tonebridge.handlers.methods.control import (
    ProgressSink,
    RunControl,
    StopSignal,
    TrainingResult,
)
from tonebridge.handlers.methods.distributed import SINGLE_PROCESS, Parallelism, launch
from tonebridge.handlers.methods.examples import Row
from tonebridge.handlers.methods.registry import Method, method_for
from tonebridge.handlers.methods.tracking import NO_TRACKING, Tracking, run_environment
from tonebridge.settings import Settings, get_settings

_RUN_LOCK = threading.Lock()


def make_config(
    kind: str,
    base_model: str,
    options: Mapping[str, object] | None = None,
    *,
    settings: Settings | None = None,
) -> TrainingConfig:
    """The config for ``kind`` from the deployment's defaults and a job's options (JSON)."""
    method = method_for(kind)
    values = {**method.defaults, **(options or {})}
    return method.config.from_settings(base_model, settings or get_settings(), **values)


def run_training(
    kind: str,
    config: TrainingConfig,
    data: Sequence[Row],
    *,
    output_dir: Path,
    progress: ProgressSink | None = None,
    should_stop: StopSignal | None = None,
    tracking: Tracking = NO_TRACKING,
    parallel: Parallelism = SINGLE_PROCESS,
    start_adapter: Path | None = None,
) -> TrainingResult:
    """Train ``kind`` on ``data``; blocks until the run completes or is stopped.

    ``data`` rows by kind: ``METHODS[kind].rows`` (sft/qlora ``RewriteExample``, dpo/orpo
    ``PreferenceExample``, kto ``LabeledRewrite``, rlhf ``RatedRewrite``). ``progress`` gets a
    :class:`ProgressUpdate` every ``config.log_every_steps`` optimizer steps;
    ``should_stop`` is polled after every step. ``tracking``: W&B (when it has a key; its
    ``WANDB_*`` environment is set for the run) and the hub token. Raises
    :class:`TrainingError` (or its :class:`UnsupportedModelError`) with the reason when the
    run cannot be done, among them W&B asked for without ``wandb`` installed. ``parallel``:
    the processes the run trains in (:class:`Parallelism`; this one alone by default).
    ``start_adapter``: a saved LoRA adapter on ``config.base_model`` that the offline methods
    continue training (its own rank and targets then apply); rlhf always starts fresh.
    """
    run = RunControl(output_dir, progress, should_stop, tracking, start_adapter=start_adapter)
    if parallel.distributed:
        config = _checked_config(kind, method_for(kind), config)
        with _RUN_LOCK:
            return launch(kind, config, data, run, parallel)
    return run_with(kind, config, data, run)


def run_with(
    kind: str, config: TrainingConfig, data: Sequence[Row], run: RunControl
) -> TrainingResult:
    """Train ``kind`` in this process as ``run`` says (a rank's run adds its own options)."""
    method = method_for(kind)
    config = _checked_config(kind, method, config)
    run.output_dir.mkdir(parents=True, exist_ok=True)
    with _RUN_LOCK, run_environment(run.tracking), _torch_threads(config.cpu_threads):
        return method.runner(config, data, run)


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


def _checked_config(kind: str, method: Method, config: TrainingConfig) -> TrainingConfig:
    """``config`` if of the method's type; the kind's defaults where it kept the declared ones."""
    expected = method.config
    if type(config) is not expected:
        msg = f"{kind} needs a {expected.__name__}, got {type(config).__name__}"
        raise TrainingError(msg)
    fields = expected.model_fields
    unset = {
        name: value
        for name, value in method.defaults.items()
        if getattr(config, name) == fields[name].default
    }
    return parse_config(expected, {**config.model_dump(), **unset}) if unset else config
