from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from tonebridge.handlers.methods import FINAL_MARKER, ORPOConfig, ProgressUpdate, run_training
from tonebridge.handlers.methods.examples import PreferenceExample
from tonebridge.handlers.methods.inference import (
    CompletionScore,
    load_for_inference,
    score_completions,
)
from tonebridge.handlers.methods.synthetic import SyntheticSplit, preference_pairs

STEPS = 40


def _scores(
    base: Path, adapter: Path | None, pairs: list[PreferenceExample]
) -> tuple[list[CompletionScore], list[CompletionScore]]:
    """log p(chosen) and log p(rejected) of every pair, under the base or the adapted model."""
    model = load_for_inference(base, adapter)
    chosen = [(p.input_text, p.transformation_type, p.chosen) for p in pairs]
    rejected = [(p.input_text, p.transformation_type, p.rejected) for p in pairs]
    return score_completions(model, chosen), score_completions(model, rejected)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_orpo_learns_to_write_the_chosen_rewrites_over_the_rejected(
    tiny_model: Path,
    split: SyntheticSplit,
    tmp_path: Path,
    read_adapter: Callable[[Path], dict[str, torch.Tensor]],
) -> None:
    pairs = preference_pairs(split.train, seed=1)
    config = ORPOConfig(
        base_model=str(tiny_model),
        batch_size=8,
        learning_rate=3e-3,
        max_steps=STEPS,
        beta=0.5,
        lora_dropout=0.0,
        cpu_threads=1,
    )
    updates: list[ProgressUpdate] = []
    result = run_training("orpo", config, pairs, output_dir=tmp_path, progress=updates.append)

    assert result.status == "completed" and result.adapter_dir is not None
    assert (result.adapter_dir / FINAL_MARKER).is_file()
    lora_b = [t for name, t in read_adapter(result.adapter_dir).items() if "lora_B" in name]
    assert lora_b and all(t.abs().max() > 0 for t in lora_b)
    assert {u.phase for u in updates} == {"orpo"} and updates[-1].step == STEPS
    assert "log_odds_ratio" in result.metrics
    assert result.metrics["final_loss"] < result.metrics["first_loss"]

    base_chosen, base_rejected = _scores(tiny_model, None, pairs)
    chosen, rejected = _scores(tiny_model, result.adapter_dir, pairs)
    chosen_rise = _mean([a.logprob - b.logprob for a, b in zip(chosen, base_chosen, strict=True)])
    rejected_rise = _mean(
        [a.logprob - b.logprob for a, b in zip(rejected, base_rejected, strict=True)]
    )
    # Both rise (the rejected rewrites share the chosen ones' words); the chosen clearly more.
    assert chosen_rise > rejected_rise + 1.0

    def preferred(c: list[CompletionScore], r: list[CompletionScore]) -> float:
        return _mean([float(a.logprob > b.logprob) for a, b in zip(c, r, strict=True)])

    assert preferred(chosen, rejected) >= preferred(base_chosen, base_rejected) + 0.1
