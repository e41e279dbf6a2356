"""Continuing a saved adapter: loaded as saved, trainable, and a run goes on from it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods import DPOConfig, SFTConfig, TrainingResult, run_training
from tonebridge.handlers.methods.loading import Hardware, load_causal_lm, trainable_adapter
from tonebridge.handlers.methods.synthetic import SyntheticSplit, preference_pairs

ReadAdapter = Callable[[Path], dict[str, torch.Tensor]]
CPU = Hardware(cuda=False, bf16=False)


def _config(tiny_model: Path, lora_r: int) -> SFTConfig:
    return SFTConfig(
        base_model=str(tiny_model), batch_size=8, learning_rate=5e-3, lr_scheduler="constant",
        max_steps=30, lora_r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.0, cpu_threads=1,
        log_every_steps=1,
    )  # fmt: skip


@pytest.fixture(scope="module")
def parent(
    tiny_model: Path, split: SyntheticSplit, tmp_path_factory: pytest.TempPathFactory
) -> TrainingResult:
    config = _config(tiny_model, lora_r=16)
    return run_training("sft", config, split.train, output_dir=tmp_path_factory.mktemp("parent"))


def _adapter_dir(result: TrainingResult) -> Path:
    assert result.status == "completed"
    assert result.adapter_dir is not None
    return result.adapter_dir


def test_the_loaded_adapter_is_the_parents_and_only_it_trains(
    parent: TrainingResult, tiny_model: Path, read_adapter: ReadAdapter
) -> None:
    from peft import get_peft_model_state_dict

    config = _config(tiny_model, lora_r=4)  # the saved adapter's rank wins
    model, fresh = trainable_adapter(load_causal_lm(config, CPU), config, _adapter_dir(parent))
    assert fresh is None
    saved = read_adapter(_adapter_dir(parent))
    loaded = get_peft_model_state_dict(model)
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[name], loaded[name]) for name in saved)
    assert any(bool(tensor.abs().sum()) for tensor in saved.values())  # not an untrained one
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    assert len(trainable) == len(saved)


def test_without_a_start_a_fresh_adapter_is_configured(tiny_model: Path) -> None:
    config = _config(tiny_model, lora_r=4)
    base = load_causal_lm(config, CPU)
    model, fresh = trainable_adapter(base, config, None)
    assert model is base
    assert fresh is not None and fresh.r == 4


def test_a_folder_without_an_adapter_is_a_training_error(tiny_model: Path, tmp_path: Path) -> None:
    config = _config(tiny_model, lora_r=4)
    with pytest.raises(TrainingError, match="cannot continue the adapter"):
        trainable_adapter(load_causal_lm(config, CPU), config, tmp_path)


def test_a_continued_run_goes_on_from_the_parents_loss(
    parent: TrainingResult,
    tiny_model: Path,
    split: SyntheticSplit,
    tmp_path: Path,
    read_adapter: ReadAdapter,
) -> None:
    fresh_first_loss = parent.metrics["first_loss"]
    continued = run_training(
        "sft", _config(tiny_model, lora_r=4), split.train,
        output_dir=tmp_path, start_adapter=_adapter_dir(parent),
    )  # fmt: skip
    # The first step already has the parent's skill: far below where the parent began.
    assert continued.metrics["first_loss"] < 0.5 * fresh_first_loss, continued.metrics
    adapter = _adapter_dir(continued)
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 16
    before, after = read_adapter(_adapter_dir(parent)), read_adapter(adapter)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[name], after[name]) for name in before)  # it trained on


def test_dpo_continues_a_parent_adapter_too(
    parent: TrainingResult,
    tiny_model: Path,
    split: SyntheticSplit,
    tmp_path: Path,
    read_adapter: ReadAdapter,
) -> None:
    config = DPOConfig(
        base_model=str(tiny_model), batch_size=4, learning_rate=3e-3, max_steps=4,
        lora_r=4, lora_dropout=0.0, cpu_threads=1,
    )  # fmt: skip
    pairs = preference_pairs(split.train[:16])
    continued = run_training(
        "dpo", config, pairs, output_dir=tmp_path, start_adapter=_adapter_dir(parent)
    )
    adapter = _adapter_dir(continued)
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 16
    before, after = read_adapter(_adapter_dir(parent)), read_adapter(adapter)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[name], after[name]) for name in before)
