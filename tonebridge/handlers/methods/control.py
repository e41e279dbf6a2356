"""What a run reports while it trains, how it is stopped, and what it returns."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tonebridge.handlers.methods.tracking import NO_TRACKING, Tracking

RunStatus = Literal["completed", "stopped"]
StopSignal = Callable[[], bool] | threading.Event

# Written next to a finished adapter; an adapter directory without it is not final.
FINAL_MARKER = "tonebridge_adapter.json"


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    """One progress report; ``step``/``total_steps`` count optimizer steps of ``phase``."""

    phase: str
    step: int
    total_steps: int
    epoch: float
    progress: float
    loss: float | None
    learning_rate: float | None
    eta_seconds: float | None
    elapsed_seconds: float


ProgressSink = Callable[[ProgressUpdate], None]


@dataclass(frozen=True, slots=True)
class LoggedStep:
    """What the trl trainer logged at one optimizer step (loss, learning rate, eval metrics...).

    ``timestamp_ms`` is when it was logged (ms since the epoch), so MLflow shows the run's
    own timeline even though the run is logged there after training.
    """

    step: int
    timestamp_ms: int
    values: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class TrainingResult:
    """A finished or stopped run. ``adapter_dir`` is None unless the run completed."""

    kind: str
    status: RunStatus
    adapter_dir: Path | None
    steps: int
    total_steps: int
    epochs: float
    metrics: Mapping[str, float]
    artifacts: Mapping[str, Path] = field(default_factory=dict)
    history: tuple[LoggedStep, ...] = ()  # every logged step, in order (MLflow step metrics)


@dataclass(frozen=True, slots=True)
class RunControl:
    """Where a run writes, whom it tells about progress, how it learns it must stop,
    where else it reports (W&B) and loads from (the hub token), and the adapter it continues
    (``start_adapter``: a saved LoRA adapter folder; None trains a fresh adapter).

    In one process of a distributed run (:mod:`~tonebridge.handlers.methods.rank`),
    ``trainer_options`` are extra ``TrainingArguments`` (``ddp_backend``, ``deepspeed``) and
    ``callbacks`` extra transformers callbacks of every trainer the run makes.
    """

    output_dir: Path
    progress: ProgressSink | None = None
    should_stop: StopSignal | None = None
    tracking: Tracking = NO_TRACKING
    trainer_options: Mapping[str, object] = field(default_factory=dict)
    callbacks: tuple[Any, ...] = ()
    start_adapter: Path | None = None

    def stop_requested(self) -> bool:
        if self.should_stop is None:
            return False
        if isinstance(self.should_stop, threading.Event):
            return self.should_stop.is_set()
        return self.should_stop()

    def report(self, update: ProgressUpdate) -> None:
        if self.progress is not None:
            self.progress(update)
