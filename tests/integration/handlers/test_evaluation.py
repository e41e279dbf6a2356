"""Evaluation of the tiny model on the synthetic task."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tonebridge.handlers.evaluation import EvalConfig, HeldOut, compare, evaluate_model, held_out
from tonebridge.handlers.methods.synthetic import preference_pairs, rewrite_split

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = EvalConfig(max_new_tokens=24, bootstrap_samples=200)


@pytest.fixture(scope="module")
def data() -> HeldOut:
    examples = rewrite_split(0, 24).held_out
    rows = [
        {"input_text": p.input_text, "transformation_type": p.transformation_type,
         "chosen": p.chosen, "rejected": p.rejected}
        for p in preference_pairs(examples)
    ]  # fmt: skip
    return held_out("dpo", rows)


def test_every_metric_is_measured_on_the_held_out_set(tiny_model: Path, data: HeldOut) -> None:
    result = evaluate_model(str(tiny_model), None, data, CONFIG)
    metrics = result.metrics
    assert metrics["num_examples"] == 24
    assert metrics["num_pairs"] == 24
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["eval_loss"]))
    assert 0 <= metrics["preference_accuracy"] <= 1
    assert 0 <= metrics["chrf"] <= 100
    assert 0 <= metrics["bleu"] <= 100
    assert len(result.hypotheses) == len(result.references) == 24
    assert result.references[0] == data.rewrites[0][2]


def test_a_model_compared_with_itself_ties(tiny_model: Path, data: HeldOut) -> None:
    small = HeldOut(data.rewrites[:8], [])
    first = evaluate_model(str(tiny_model), None, small, CONFIG)
    second = evaluate_model(str(tiny_model), None, small, CONFIG)
    result = compare(first, second, CONFIG)
    assert result.chrf_delta == 0
    assert (result.ci_low, result.ci_high, result.verdict) == (0, 0, "tie")
