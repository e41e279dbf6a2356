from __future__ import annotations

from pathlib import Path

import pytest

from tonebridge.handlers.methods import DPOConfig, run_training
from tonebridge.handlers.methods.inference import load_for_inference, score_completions
from tonebridge.handlers.methods.synthetic import SyntheticSplit, preference_pairs

BETA = 0.1


def _implicit_margins(
    base: Path, adapter: Path, pairs: list[tuple[str, str, str, str]]
) -> list[float]:
    """DPO's implicit reward margins, computed here from log-probabilities, not trl's logs."""
    chosen = [(text, tone, good) for text, tone, good, _ in pairs]
    rejected = [(text, tone, bad) for text, tone, _, bad in pairs]
    policy, reference = load_for_inference(base, adapter), load_for_inference(base)
    scores = [
        [s.logprob for s in score_completions(model, rows)]
        for model in (policy, reference)
        for rows in (chosen, rejected)
    ]
    pol_c, pol_r, ref_c, ref_r = scores
    return [
        BETA * ((pc - rc) - (pr - rr))
        for pc, pr, rc, rr in zip(pol_c, pol_r, ref_c, ref_r, strict=True)
    ]


def test_dpo_learns_to_prefer_the_chosen_rewrites(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    pairs = preference_pairs(split.train, seed=1)
    config = DPOConfig(
        base_model=str(tiny_model),
        batch_size=8,
        learning_rate=3e-3,
        max_steps=30,
        beta=BETA,
        lora_dropout=0.0,
        cpu_threads=1,
    )
    result = run_training("dpo", config, pairs, output_dir=tmp_path)

    assert result.status == "completed" and result.adapter_dir is not None
    rows = [(p.input_text, p.transformation_type, p.chosen, p.rejected) for p in pairs]
    margins = _implicit_margins(tiny_model, result.adapter_dir, rows)
    # Before training policy == reference, so every margin is 0 and accuracy 0.
    accuracy = sum(m > 0 for m in margins) / len(margins)
    assert accuracy >= 0.8
    assert sum(margins) / len(margins) > 0.5
    assert result.metrics["rewards/margins"] > 0
    assert (
        result.metrics["final_loss"]
        < result.metrics["first_loss"]
        == pytest.approx(0.6931, abs=1e-3)
    )
