"""One process of a distributed run: ``python -m tonebridge.handlers.methods.rank job.json``.

Started by torchrun (see :mod:`~tonebridge.handlers.methods.distributed`), which sets
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` (read through :class:`Settings`). Every rank
trains with the same config on the same rows: transformers' Trainer wraps the model in
DDP (NCCL on GPUs, gloo on CPUs) and gives each rank its shard of every batch. Rank 0
alone saves the adapter, reports progress and writes the result.

Heavy module (torch, transformers): only ever run as a rank's main module.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods import distributed
from tonebridge.handlers.methods.config import parse_config
from tonebridge.handlers.methods.control import RunControl
from tonebridge.handlers.methods.dispatch import run_with
from tonebridge.handlers.methods.harness import write_json_atomically
from tonebridge.handlers.methods.registry import method_for, runner_rows
from tonebridge.handlers.methods.tracking import Tracking
from tonebridge.settings import Settings, get_settings


def trainable_digest(model: torch.nn.Module) -> str:
    """sha256 over the trainable weights (the adapter), in name order."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        if parameter.requires_grad:
            digest.update(name.encode())
            digest.update(parameter.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


class RankReport(TrainerCallback):
    """Writes ``rank-<r>.json``: this rank's steps, its share of the data (batches an epoch)
    and its adapter before and after training."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = path
        self.report: dict[str, Any] = {"rank": settings.rank, "world_size": settings.world_size}

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.report["initial_digest"] = trainable_digest(kw["model"])
        self.report["batches_per_epoch"] = len(kw["train_dataloader"])

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.report |= {"steps": state.global_step, "final_digest": trainable_digest(kw["model"])}
        self.report["process_world_size"] = args.world_size  # what the Trainer itself saw
        write_json_atomically(self.path, self.report)


def agreed_stop(local: Callable[[], bool], device: torch.device) -> Callable[[], bool]:
    """Stop when any rank sees the request: all ranks must leave the step loop together,
    or the others would wait forever for the stopped rank's gradients."""

    def should_stop() -> bool:
        flag = torch.tensor([int(local())], device=device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    return should_stop


def trainer_options(spec: dict[str, Any]) -> dict[str, object]:
    """DDP over NCCL on GPUs, gloo on CPUs; every LoRA weight takes part in every step, so
    DDP need not look for unused ones (that costs an extra autograd pass a step)."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    options: dict[str, object] = {"ddp_backend": backend, "ddp_find_unused_parameters": False}
    if spec["deepspeed_config"]:
        options["deepspeed"] = spec["deepspeed_config"]
    return options


def rank_device(settings: Settings) -> torch.device:
    """This rank's device: its own GPU (made current, so models load there), else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    torch.cuda.set_device(settings.local_rank)
    return torch.device("cuda", settings.local_rank)


@contextmanager
def progress_sink(directory: Path, main: bool) -> Iterator[Any]:
    """Rank 0 appends its progress to ``progress.jsonl``; the other ranks report nothing."""
    if not main:
        yield None
        return
    with (directory / "progress.jsonl").open("a", encoding="utf-8") as stream:
        yield lambda update: distributed.append_progress(stream, update)


def run_rank(spec_path: Path, settings: Settings) -> None:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    directory, main = spec_path.parent, settings.rank == 0
    method = method_for(spec["kind"])
    config = parse_config(method.config, spec["config"])
    rows = runner_rows(spec["kind"], spec["rows"])
    stop = agreed_stop((directory / "stop").exists, rank_device(settings))
    report = RankReport(directory / f"rank-{settings.rank}.json", settings)
    tracking = Tracking.from_settings(settings, spec["run_name"])
    with progress_sink(directory, main) as sink:
        start = spec.get("start_adapter")
        run = RunControl(
            Path(spec["output_dir"]), sink, stop, tracking, trainer_options(spec), (report,),
            start_adapter=None if start is None else Path(start),
        )  # fmt: skip
        result = run_with(spec["kind"], config, rows, run)
    if main:
        write_json_atomically(directory / "result.json", distributed.result_json(result))


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0])
    try:
        run_rank(spec_path, get_settings())
    except TrainingError as exc:
        write_json_atomically(spec_path.parent / "error.json", {"error": str(exc)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
