from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from tonebridge.handlers.methods import KTOConfig, run_training
from tonebridge.handlers.methods.inference import load_for_inference, score_completions
from tonebridge.handlers.methods.synthetic import SyntheticSplit, labeled_rewrites


def _mean_shift(base: Path, adapter: Path, rows: list[tuple[str, str, str]]) -> float:
    """Mean change of log p(completion) from the base model to the adapted one."""
    after = score_completions(load_for_inference(base, adapter), rows)
    before = score_completions(load_for_inference(base), rows)
    return sum(a.logprob - b.logprob for a, b in zip(after, before, strict=True)) / len(rows)


def test_kto_moves_towards_desirable_and_away_from_undesirable(
    tiny_model: Path,
    split: SyntheticSplit,
    tmp_path: Path,
    read_adapter: Callable[[Path], dict[str, torch.Tensor]],
) -> None:
    labeled = labeled_rewrites(split.train, seed=2)
    config = KTOConfig(
        base_model=str(tiny_model),
        batch_size=8,
        learning_rate=3e-3,
        max_steps=20,
        lora_dropout=0.0,
        cpu_threads=1,
    )
    result = run_training("kto", config, labeled, output_dir=tmp_path)

    assert result.status == "completed" and result.adapter_dir is not None
    lora_b = [t for name, t in read_adapter(result.adapter_dir).items() if "lora_B" in name]
    assert lora_b and all(t.abs().max() > 0 for t in lora_b)
    good = [(r.input_text, r.transformation_type, r.output_text) for r in labeled if r.desirable]
    bad = [(r.input_text, r.transformation_type, r.output_text) for r in labeled if not r.desirable]
    good_shift = _mean_shift(tiny_model, result.adapter_dir, good)
    bad_shift = _mean_shift(tiny_model, result.adapter_dir, bad)
    # Undesirable rows are often another tone's rewrite, which shares words with the
    # desirable ones, so both may rise; what KTO must do is separate them.
    assert good_shift > bad_shift + 1.0
