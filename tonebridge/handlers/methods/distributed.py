"""One training job on every GPU of the machine: DDP through torchrun, optionally DeepSpeed.

Light module (torch only inside :meth:`Parallelism.from_settings`): the trainer process is
no rank itself. :func:`launch` writes the job to ``<output_dir>/launch/job.json`` and runs
``torchrun --standalone --nproc-per-node N -m tonebridge.handlers.methods.rank job.json``;
every rank (:mod:`~tonebridge.handlers.methods.rank`) trains the same adapter on its shard
of the rows (gradients are averaged, so the replicas stay equal), and rank 0 alone saves
it and writes the result. The trainer then evaluates, registers and announces as for a
run in its own process. Files of the launch directory:

- ``job.json``: kind, config, rows, where to write, the DeepSpeed config (no secrets: the
  hub token and the W&B key reach the ranks through their environment)
- ``progress.jsonl``: rank 0's progress updates, relayed to the run's sink
- ``stop``: made when the run must stop; the ranks agree on it at every step
- ``rank-<r>.json``: what each rank trained (steps, batches an epoch, adapter digests)
- ``result.json`` (rank 0), ``error.json`` (a rank's :class:`TrainingError`), ``log.txt``
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import tonebridge
from tonebridge.errors import TrainingError
from tonebridge.handlers.methods.config import TrainingConfig
from tonebridge.handlers.methods.control import (
    LoggedStep,
    ProgressUpdate,
    RunControl,
    TrainingResult,
)
from tonebridge.handlers.methods.examples import Row
from tonebridge.handlers.methods.tracking import wandb_environment
from tonebridge.settings import Settings

log = logging.getLogger(__name__)
RANK_MODULE = "tonebridge.handlers.methods.rank"
POLL_S = 0.5  # how often the trainer relays progress and checks for a stop while ranks train


@dataclass(frozen=True, slots=True)
class Parallelism:
    """How many processes one job trains in, and the DeepSpeed config they use (if any)."""

    processes: int = 1
    deepspeed_config: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Parallelism:
        """``TRAIN_PROCESSES`` ("auto": one per visible CUDA device) and the DeepSpeed file."""
        processes = settings.train_processes
        if processes != "auto":
            return cls(processes, settings.train_deepspeed_config)
        import torch

        return cls(max(torch.cuda.device_count(), 1), settings.train_deepspeed_config)

    @property
    def distributed(self) -> bool:
        """Launched under torchrun: several processes, or DeepSpeed (which needs its launcher)."""
        return self.processes > 1 or self.deepspeed_config is not None


SINGLE_PROCESS = Parallelism()


def check_devices(processes: int) -> None:
    """NCCL needs a GPU of its own per process; CPU processes (gloo) may be any number."""
    import torch

    gpus = torch.cuda.device_count()
    if gpus and processes > gpus:
        msg = (
            f"TRAIN_PROCESSES={processes} but {gpus} CUDA device(s) are visible: "
            "each process needs a GPU of its own (use auto)"
        )
        raise TrainingError(msg)


def check_deepspeed(path: Path | None, config: TrainingConfig) -> None:
    """A usable DeepSpeed config, or a :class:`TrainingError` saying what is wrong with it."""
    if path is None:
        return
    if zero_stage(path) == 3 and config.quantization != "none":
        msg = (
            f"DeepSpeed ZeRO-3 cannot shard a {config.quantization} (QLoRA) base model placed "
            "whole on each GPU; use ZeRO-2 or plain DDP for QLoRA"
        )
        raise TrainingError(msg)
    if importlib.util.find_spec("deepspeed") is None:
        msg = (
            "TRAIN_DEEPSPEED_CONFIG is set but the deepspeed package is not installed: "
            "install it (pip install deepspeed) or unset TRAIN_DEEPSPEED_CONFIG"
        )
        raise TrainingError(msg)


def zero_stage(path: Path) -> int:
    """The ZeRO stage of a DeepSpeed config file (0 when it names none)."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        msg = f"cannot read the DeepSpeed config {path}: {exc}"
        raise TrainingError(msg) from exc
    if not isinstance(values, dict):
        msg = f"the DeepSpeed config {path} is not a JSON object"
        raise TrainingError(msg)
    return int(values.get("zero_optimization", {}).get("stage", 0))


def launch(
    kind: str,
    config: TrainingConfig,
    data: Sequence[Row],
    run: RunControl,
    parallel: Parallelism,
) -> TrainingResult:
    """Train ``kind`` in ``parallel.processes`` ranks; blocks until they exit."""
    check_devices(parallel.processes)
    check_deepspeed(parallel.deepspeed_config, config)
    directory = run.output_dir / "launch"
    shutil.rmtree(directory, ignore_errors=True)  # an earlier run's result, stop or error
    directory.mkdir(parents=True)
    spec = write_job(directory, kind, config, data, run, parallel)
    log.info("training %s in %d processes under torchrun (%s)", kind, parallel.processes, spec)
    with (directory / "log.txt").open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            torchrun_command(spec, parallel.processes),
            env=rank_environment(run),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            _follow(process, directory, run)
        finally:
            _reap(process)
    return read_result(directory, process.returncode)


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Ranks left running when the trainer gave up following them (it failed) are ended."""
    if process.poll() is None:
        process.terminate()  # torchrun passes it on to every rank
        process.wait()


def write_job(
    directory: Path,
    kind: str,
    config: TrainingConfig,
    data: Sequence[Row],
    run: RunControl,
    parallel: Parallelism,
) -> Path:
    deepspeed = parallel.deepspeed_config
    spec = {
        "kind": kind,
        "config": config.model_dump(mode="json"),
        "rows": [dataclasses.asdict(row) for row in data],
        "output_dir": str(run.output_dir),
        "run_name": run.tracking.run_name,
        "deepspeed_config": str(deepspeed.resolve()) if deepspeed else None,
        "start_adapter": str(run.start_adapter) if run.start_adapter else None,
    }
    path = directory / "job.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def torchrun_command(spec: Path, processes: int) -> list[str]:
    """torchrun on a free local port (``--standalone``), one process per GPU."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={processes}", "-m", RANK_MODULE, str(spec),
    ]  # fmt: skip


def rank_environment(run: RunControl) -> dict[str, str]:
    """The trainer's environment, this checkout importable, and the run's secrets."""
    root = str(Path(tonebridge.__file__).resolve().parents[1])
    inherited = dict(os.environ)  # passed on whole, not read: settings come from Settings
    paths = [root, *filter(None, [inherited.get("PYTHONPATH")])]
    secrets = wandb_environment(run.tracking)
    token = run.tracking.huggingface_token
    if token is not None and token.get_secret_value():
        secrets["HUGGINGFACE_TOKEN"] = token.get_secret_value()
    return {**inherited, **secrets, "PYTHONPATH": os.pathsep.join(paths)}


def _follow(process: subprocess.Popen[bytes], directory: Path, run: RunControl) -> None:
    """Relay rank 0's progress and pass a stop on until the ranks exit."""
    relay = ProgressReader(directory / "progress.jsonl")
    while True:
        try:
            process.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            pass
        for update in relay.read():
            run.report(update)
        if process.returncode is not None:
            return
        if run.stop_requested():
            (directory / "stop").touch()


class ProgressReader:
    """Reads the complete lines rank 0 appended to ``progress.jsonl`` since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self) -> list[ProgressUpdate]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as stream:
            stream.seek(self.offset)
            chunk = stream.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [ProgressUpdate(**json.loads(line)) for line in complete.splitlines()]


def append_progress(stream: IO[str], update: ProgressUpdate) -> None:
    """One progress line, flushed whole so the trainer never reads half of it."""
    stream.write(json.dumps(dataclasses.asdict(update)) + "\n")
    stream.flush()


def result_json(result: TrainingResult) -> dict[str, Any]:
    values = dataclasses.asdict(result)
    values["adapter_dir"] = str(result.adapter_dir) if result.adapter_dir else None
    values["artifacts"] = {name: str(path) for name, path in result.artifacts.items()}
    return values


def result_from_json(values: Mapping[str, Any]) -> TrainingResult:
    adapter = values["adapter_dir"]
    return TrainingResult(
        kind=values["kind"],
        status=values["status"],
        adapter_dir=Path(adapter) if adapter else None,
        steps=int(values["steps"]),
        total_steps=int(values["total_steps"]),
        epochs=float(values["epochs"]),
        metrics=dict(values["metrics"]),
        artifacts={name: Path(path) for name, path in values["artifacts"].items()},
        history=tuple(LoggedStep(**step) for step in values["history"]),
    )


def read_result(directory: Path, returncode: int | None) -> TrainingResult:
    """Rank 0's result; a rank's own error, or the log's tail, when the ranks failed."""
    error = directory / "error.json"
    if error.exists():
        raise TrainingError(json.loads(error.read_text(encoding="utf-8"))["error"])
    result = directory / "result.json"
    if returncode != 0 or not result.exists():
        tail = (directory / "log.txt").read_text(encoding="utf-8", errors="replace")[-2000:]
        msg = f"distributed training exited with status {returncode}: {tail}"
        raise TrainingError(msg)
    return result_from_json(json.loads(result.read_text(encoding="utf-8")))
