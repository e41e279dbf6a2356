"""Two CPU ranks (torchrun, gloo) train one adapter on the tiny model: DDP keeps the replicas
equal, rank 0 alone saves it, a stop reaches both ranks at the same step."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods import (
    FINAL_MARKER,
    ProgressUpdate,
    SFTConfig,
    TrainingResult,
    run_training,
)
from tonebridge.handlers.methods.control import RunControl
from tonebridge.handlers.methods.distributed import Parallelism, launch
from tonebridge.handlers.methods.synthetic import SyntheticSplit

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TWO_RANKS = Parallelism(processes=2)
ReadAdapter = Callable[[Path], dict[str, torch.Tensor]]


def _config(tiny_model: Path, max_steps: int) -> SFTConfig:
    return SFTConfig(
        base_model=str(tiny_model), batch_size=4, learning_rate=5e-3, max_steps=max_steps,
        lora_dropout=0.0, cpu_threads=1, log_every_steps=2,
    )  # fmt: skip


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rank_reports(output_dir: Path) -> list[dict[str, Any]]:
    paths = sorted((output_dir / "launch").glob("rank-*.json"))
    return [json.loads(path.read_text()) for path in paths]


@pytest.fixture(scope="module")
def two_rank_run(
    tiny_model: Path, split: SyntheticSplit, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainingResult, list[ProgressUpdate], Path, str]:
    base_before = _digest(tiny_model / "model.safetensors")
    output_dir = tmp_path_factory.mktemp("ddp")
    updates: list[ProgressUpdate] = []
    result = run_training(
        "sft", _config(tiny_model, 6), split.train, output_dir=output_dir,
        progress=updates.append, parallel=TWO_RANKS,
    )  # fmt: skip
    return result, updates, output_dir, base_before


def test_both_ranks_trained_the_same_adapter(
    two_rank_run: tuple[TrainingResult, list[ProgressUpdate], Path, str], split: SyntheticSplit
) -> None:
    result, _, output_dir, _ = two_rank_run
    reports = _rank_reports(output_dir)
    assert [r["rank"] for r in reports] == [0, 1]
    assert all(r["world_size"] == r["process_world_size"] == 2 for r in reports)
    # Each rank saw half of the rows (4 a batch), so equal weights mean averaged gradients.
    half = math.ceil(len(split.train) / 2 / 4)
    assert [r["batches_per_epoch"] for r in reports] == [half, half]
    assert all(r["steps"] == result.steps == 6 for r in reports)
    assert reports[0]["initial_digest"] == reports[1]["initial_digest"]
    assert reports[0]["final_digest"] == reports[1]["final_digest"]  # gradients were averaged
    assert reports[0]["final_digest"] != reports[0]["initial_digest"]  # and applied


def test_rank_0_alone_saved_one_final_adapter(
    two_rank_run: tuple[TrainingResult, list[ProgressUpdate], Path, str],
    tiny_model: Path,
    read_adapter: ReadAdapter,
) -> None:
    result, _, output_dir, base_before = two_rank_run
    assert result.status == "completed" and result.adapter_dir == output_dir / "adapter"
    assert [p.parent for p in output_dir.rglob(FINAL_MARKER)] == [result.adapter_dir]
    assert len(list(output_dir.rglob("adapter_model.safetensors"))) == 1
    tensors = read_adapter(result.adapter_dir)
    lora_b = [t for name, t in tensors.items() if "lora_B" in name]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)  # B starts at zero
    assert _digest(tiny_model / "model.safetensors") == base_before
    assert result.metrics["train_loss"] > 0


def test_rank_0s_progress_reaches_the_trainer(
    two_rank_run: tuple[TrainingResult, list[ProgressUpdate], Path, str],
) -> None:
    _, updates, _, _ = two_rank_run
    steps = [u.step for u in updates]
    assert steps == sorted(steps) and steps[-1] == 6
    assert {u.total_steps for u in updates} == {6}
    assert any(u.loss is not None for u in updates)


def test_a_stop_ends_both_ranks_at_the_same_step_and_saves_nothing(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    updates: list[ProgressUpdate] = []

    def should_stop() -> bool:
        return any(u.step >= 2 for u in updates)

    result = run_training(
        "sft", _config(tiny_model, 500), split.train, output_dir=tmp_path,
        progress=updates.append, should_stop=should_stop, parallel=TWO_RANKS,
    )  # fmt: skip
    assert result.status == "stopped" and result.adapter_dir is None
    assert 2 <= result.steps < 500
    reports = _rank_reports(tmp_path)
    assert [r["steps"] for r in reports] == [result.steps, result.steps]
    assert reports[0]["final_digest"] == reports[1]["final_digest"]
    assert list(tmp_path.rglob(FINAL_MARKER)) == []


def test_a_ranks_training_error_fails_the_run_with_its_reason(
    split: SyntheticSplit, tmp_path: Path
) -> None:
    config = _config(tmp_path / "no-such-model", 2)
    # One rank is enough to see its error come back (and costs half the start-up).
    with pytest.raises(TrainingError, match="cannot load the tokenizer of"):
        launch("sft", config, split.train, RunControl(tmp_path), Parallelism(processes=1))
    assert not (tmp_path / "launch" / "result.json").exists()
