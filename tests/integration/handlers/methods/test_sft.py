from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import sacrebleu
import torch

from tonebridge.handlers.methods import (
    FINAL_MARKER,
    ProgressUpdate,
    SFTConfig,
    TrainingResult,
    run_training,
)
from tonebridge.handlers.methods.inference import (
    generate_rewrites,
    load_for_inference,
    mean_completion_loss,
)
from tonebridge.handlers.methods.synthetic import SyntheticSplit

ReadAdapter = Callable[[Path], dict[str, torch.Tensor]]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sft_run(
    tiny_model: Path, split: SyntheticSplit, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainingResult, list[ProgressUpdate], str]:
    weights_before = _digest(tiny_model / "model.safetensors")
    updates: list[ProgressUpdate] = []
    config = SFTConfig(
        base_model=str(tiny_model),
        batch_size=8,
        learning_rate=5e-3,
        lr_scheduler="constant",
        max_steps=80,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        cpu_threads=1,
        log_every_steps=5,
    )
    result = run_training(
        "sft",
        config,
        split.train,
        output_dir=tmp_path_factory.mktemp("sft"),
        progress=updates.append,
    )
    return result, updates, weights_before


def test_sft_completes_and_marks_the_adapter_final(
    sft_run: tuple[TrainingResult, list[ProgressUpdate], str],
) -> None:
    result, _, _ = sft_run
    assert result.status == "completed"
    assert result.steps == result.total_steps == 80
    assert result.adapter_dir is not None
    assert (result.adapter_dir / FINAL_MARKER).is_file()
    assert result.metrics["final_loss"] < result.metrics["first_loss"]
    assert result.metrics["tokens_per_second"] > 0
    assert result.metrics["train_runtime"] > 0


def test_sft_trains_only_the_adapter(
    sft_run: tuple[TrainingResult, list[ProgressUpdate], str],
    tiny_model: Path,
    read_adapter: ReadAdapter,
) -> None:
    result, _, weights_before = sft_run
    assert result.adapter_dir is not None
    tensors = read_adapter(result.adapter_dir)
    lora_b = {name: t for name, t in tensors.items() if "lora_B" in name}
    # LoRA's B matrices start at zero: non-zero means the adapter learnt something.
    assert lora_b and all(t.abs().max() > 0 for t in lora_b.values())
    targets = {name.split(".")[-3] for name in lora_b}
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert all("lora_" in name for name in tensors)
    assert _digest(tiny_model / "model.safetensors") == weights_before


def test_sft_lowers_the_loss_on_its_training_pairs(
    sft_run: tuple[TrainingResult, list[ProgressUpdate], str],
    tiny_model: Path,
    split: SyntheticSplit,
) -> None:
    result, _, _ = sft_run
    rows = [(ex.input_text, ex.transformation_type, ex.target_text) for ex in split.train]
    base_loss = mean_completion_loss(load_for_inference(tiny_model), rows)
    tuned = load_for_inference(tiny_model, result.adapter_dir)
    assert mean_completion_loss(tuned, rows) < 0.7 * base_loss
    with tuned.model.disable_adapter():  # the base under the adapter is unchanged
        assert mean_completion_loss(tuned, rows) == pytest.approx(base_loss, rel=1e-4)


def test_sft_generalises_to_held_out_inputs(
    sft_run: tuple[TrainingResult, list[ProgressUpdate], str],
    tiny_model: Path,
    split: SyntheticSplit,
) -> None:
    result, _, _ = sft_run
    rows = [(ex.input_text, ex.transformation_type, ex.target_text) for ex in split.held_out]
    base_loss = mean_completion_loss(load_for_inference(tiny_model), rows)
    tuned_loss = mean_completion_loss(load_for_inference(tiny_model, result.adapter_dir), rows)
    assert tuned_loss < 0.8 * base_loss


def test_sft_reports_progress_every_few_steps(
    sft_run: tuple[TrainingResult, list[ProgressUpdate], str],
) -> None:
    _, updates, _ = sft_run
    steps = [update.step for update in updates]
    assert steps == sorted(steps)
    assert {1, *range(5, 81, 5)} <= set(steps)
    assert all(u.total_steps == 80 and u.phase == "sft" for u in updates)
    assert updates[-1].progress == pytest.approx(1.0)
    assert updates[-1].eta_seconds == pytest.approx(0.0)
    assert all(u.loss is not None and u.learning_rate is not None for u in updates)


@pytest.mark.parametrize(
    "options",
    [
        {"packing": True},  # the GPU default, forced on here
        {"gradient_checkpointing": True},
        {"quantization": "4bit", "allow_cpu": True},  # QLoRA's path, minus the GPU
        {"quantization": "8bit", "allow_cpu": True},
    ],
    ids=["packing", "gradient-checkpointing", "qlora-4bit", "qlora-8bit"],
)
def test_sft_options_train_an_adapter(
    options: dict[str, object],
    tiny_model: Path,
    split: SyntheticSplit,
    tmp_path: Path,
    read_adapter: ReadAdapter,
) -> None:
    values: dict[str, object] = {
        "base_model": str(tiny_model),
        "batch_size": 4,
        "learning_rate": 3e-3,
        "max_steps": 6,
        "log_every_steps": 1,
        "cpu_threads": 1,
        **options,
    }
    result = run_training("sft", SFTConfig.model_validate(values), split.train, output_dir=tmp_path)
    assert result.status == "completed" and result.adapter_dir is not None
    assert result.metrics["final_loss"] < result.metrics["first_loss"]
    lora_b = [t for name, t in read_adapter(result.adapter_dir).items() if "lora_B" in name]
    assert lora_b and all(t.abs().max() > 0 for t in lora_b)


def test_sft_generations_move_towards_the_targets(
    sft_run: tuple[TrainingResult, list[ProgressUpdate], str],
    tiny_model: Path,
    split: SyntheticSplit,
) -> None:
    result, _, _ = sft_run
    requests = [(ex.input_text, ex.transformation_type) for ex in split.held_out]
    references = [[ex.target_text for ex in split.held_out]]
    base = generate_rewrites(load_for_inference(tiny_model), requests)
    tuned = generate_rewrites(load_for_inference(tiny_model, result.adapter_dir), requests)
    assert len(tuned) == len(requests) and all("\n" not in text for text in tuned)
    base_chrf = sacrebleu.corpus_chrf(base, references).score
    tuned_chrf = sacrebleu.corpus_chrf(tuned, references).score
    assert tuned_chrf > base_chrf + 25
