"""The trainer callback that reports progress, records what was logged per step and honours
stop requests (heavy module)."""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tonebridge.handlers.methods.control import LoggedStep, ProgressUpdate, RunControl

# The end-of-training summary log (runtime, samples per second, mean train loss): the run's
# final metrics hold it already, so it is no step of the history.
_SUMMARY_KEY = "train_runtime"


class ProgressCallback(TrainerCallback):
    """Reports every logged step, stops the trainer when the run is asked to stop.

    ``history`` keeps every logged step's numbers (loss, learning rate, grad norm, eval
    metrics when an evaluation ran, trl's own), for MLflow's per-step metrics.

    ``phase_index``/``phase_count`` place this trainer inside a multi-phase run (RLHF trains
    a reward model, then the policy), so ``progress`` rises from 0 to 1 over the whole run.
    """

    def __init__(
        self,
        run: RunControl,
        phase: str,
        *,
        phase_index: int = 0,
        phase_count: int = 1,
        run_started: float | None = None,
    ) -> None:
        self.run = run
        self.phase = phase
        self.phase_index = phase_index
        self.phase_count = phase_count
        self.run_started = time.monotonic() if run_started is None else run_started
        self.stopped = False
        self.last_loss: float | None = None
        self.last_learning_rate: float | None = None
        self.history: list[LoggedStep] = []

    def _check_stop(self, control: TrainerControl) -> None:
        if self.run.stop_requested():
            self.stopped = True
            control.should_training_stop = True

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> None:
        self._check_stop(control)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> None:
        self._check_stop(control)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **_: Any,
    ) -> None:
        logs = logs or {}
        self.last_loss = _number(logs.get("loss"), self.last_loss)
        self.last_learning_rate = _number(logs.get("learning_rate"), self.last_learning_rate)
        self._record(state.global_step, logs)
        self.run.report(self.update(state))

    def _record(self, step: int, logs: dict[str, float]) -> None:
        values = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
        values.pop("step", None)
        if values and _SUMMARY_KEY not in values:
            self.history.append(LoggedStep(step, int(time.time() * 1000), values))

    def update(self, state: TrainerState) -> ProgressUpdate:
        total = max(state.max_steps, 1)
        within = min(state.global_step / total, 1.0)
        progress = (self.phase_index + within) / self.phase_count
        elapsed = time.monotonic() - self.run_started
        eta = elapsed / progress * (1.0 - progress) if progress > 0 else None
        return ProgressUpdate(
            phase=self.phase,
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=float(state.epoch or 0.0),
            progress=progress,
            loss=self.last_loss,
            learning_rate=self.last_learning_rate,
            eta_seconds=eta,
            elapsed_seconds=elapsed,
        )


def _number(value: object, fallback: float | None) -> float | None:
    return float(value) if isinstance(value, int | float) else fallback
