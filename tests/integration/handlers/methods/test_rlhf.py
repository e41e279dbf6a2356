from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tonebridge.handlers.methods import (
    ProgressUpdate,
    RLHFConfig,
    format_completion,
    format_prompt,
    preferences_from_ratings,
    run_training,
)
from tonebridge.handlers.methods.synthetic import SyntheticSplit, rated_rewrites


def _reward_accuracy(reward_dir: Path, rated: list, gap: float) -> float:
    """How often the saved reward model scores the better-rated rewrite higher."""
    pairs = preferences_from_ratings(rated, min_gap=gap)
    tokenizer = AutoTokenizer.from_pretrained(reward_dir)
    model = AutoModelForSequenceClassification.from_pretrained(reward_dir).eval()

    def score(texts: list[str]) -> torch.Tensor:
        # As GRPO calls it: prompt + completion, right padded, no special tokens added.
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            return model(**batch).logits[:, 0]

    prompts = [format_prompt(p.input_text, p.transformation_type) for p in pairs]
    chosen = score([p + format_completion(x.chosen) for p, x in zip(prompts, pairs, strict=True)])
    rejected = score(
        [p + format_completion(x.rejected) for p, x in zip(prompts, pairs, strict=True)]
    )
    return float((chosen > rejected).float().mean())


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_rlhf_trains_a_reward_model_then_a_policy_adapter(
    algorithm: str,
    tiny_model: Path,
    split: SyntheticSplit,
    tmp_path: Path,
    read_adapter: Callable[[Path], dict[str, torch.Tensor]],
) -> None:
    rated = rated_rewrites(split.train[:16], seed=4)
    updates: list[ProgressUpdate] = []
    config = RLHFConfig(
        base_model=str(tiny_model),
        algorithm=algorithm,
        batch_size=8,
        num_generations=4,
        max_completion_length=24,
        learning_rate=1e-3,
        max_steps=3,
        reward_learning_rate=3e-3,
        reward_max_steps=30,
        lora_dropout=0.0,
        cpu_threads=1,
        log_every_steps=1,
    )
    result = run_training("rlhf", config, rated, output_dir=tmp_path, progress=updates.append)

    assert result.status == "completed" and result.adapter_dir is not None
    assert result.steps == 3
    # An untrained head ranks pairs at chance (0.5); echoes are easy, wrong tones less so.
    assert _reward_accuracy(result.artifacts["reward_model"], rated, 1.0) >= 0.8
    metrics = result.metrics
    assert metrics["reward_model/final_loss"] < 0.5 < metrics["reward_model/first_loss"]
    lora_b = [t for name, t in read_adapter(result.adapter_dir).items() if "lora_B" in name]
    assert lora_b and all(t.abs().max() > 0 for t in lora_b)
    assert "reward" in result.metrics and "completions/mean_length" in result.metrics
    assert result.metrics["kl"] >= 0  # logged only with a KL penalty: on by default
    reward_steps = [e.step for e in result.history if "reward_model/loss" in e.values]
    policy_steps = [e.step for e in result.history if "reward" in e.values]
    assert reward_steps == list(range(1, 31)) and policy_steps == [1, 2, 3]
    phases = [u.phase for u in updates]
    assert phases.index("policy") > phases.index("reward_model")
    assert [u.progress for u in updates] == sorted(u.progress for u in updates)
    assert updates[-1].progress == pytest.approx(1.0)
