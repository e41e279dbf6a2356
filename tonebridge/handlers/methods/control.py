"""What a run reports while it trains, how it is stopped, and what it returns."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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


@dataclass(frozen=True, slots=True)
class RunControl:
    """Where a run writes, whom it tells about progress and how it learns it must stop."""

    output_dir: Path
    progress: ProgressSink | None = None
    should_stop: StopSignal | None = None

    def stop_requested(self) -> bool:
        if self.should_stop is None:
            return False
        if isinstance(self.should_stop, threading.Event):
            return self.should_stop.is_set()
        return self.should_stop()

    def report(self, update: ProgressUpdate) -> None:
        if self.progress is not None:
            self.progress(update)
