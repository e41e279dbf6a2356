from __future__ import annotations

import pytest
from sacrebleu.metrics import CHRF

from tonebridge.handlers.evaluation import EvalConfig, Evaluation, compare, text_scores

REFS = [f"Could you please send report number {i} when you have a moment?" for i in range(40)]
GOOD = [r.replace("please ", "") for r in REFS]
BAD = [f"send report {i} asap" for i in range(40)]


def test_text_scores_are_sacrebleu_corpus_scores() -> None:
    scores = text_scores(GOOD, REFS)
    assert scores["chrf"] == pytest.approx(CHRF().corpus_score(GOOD, [REFS]).score)
    assert text_scores(REFS, REFS) == {"chrf": 100.0, "bleu": pytest.approx(100.0)}
    assert text_scores([], []) == {}


def test_a_clearly_better_candidate_wins_with_an_interval_above_zero() -> None:
    result = compare(Evaluation({}, GOOD, REFS), Evaluation({}, BAD, REFS), EvalConfig())
    assert result.verdict == "candidate"
    assert 0 < result.ci_low <= result.chrf_delta <= result.ci_high
    assert result.p_better == 1.0
    reverse = compare(Evaluation({}, BAD, REFS), Evaluation({}, GOOD, REFS), EvalConfig())
    assert reverse.verdict == "baseline"
    assert reverse.chrf_delta == pytest.approx(-result.chrf_delta)


def test_equal_systems_tie_and_the_seed_makes_it_reproducible() -> None:
    mixed = [g if i % 2 else b for i, (g, b) in enumerate(zip(GOOD, BAD, strict=True))]
    swapped = [b if i % 2 else g for i, (g, b) in enumerate(zip(GOOD, BAD, strict=True))]
    first = compare(Evaluation({}, mixed, REFS), Evaluation({}, swapped, REFS), EvalConfig())
    again = compare(Evaluation({}, mixed, REFS), Evaluation({}, swapped, REFS), EvalConfig())
    assert first == again
    assert first.verdict == "tie"
    assert first.ci_low < 0 < first.ci_high
    assert set(first.metrics()) == {
        "vs_baseline_chrf_delta",
        "vs_baseline_chrf_delta_ci_low",
        "vs_baseline_chrf_delta_ci_high",
        "vs_baseline_p_better",
    }


def test_compare_refuses_different_held_out_sets() -> None:
    with pytest.raises(ValueError, match="same"):
        compare(Evaluation({}, GOOD, REFS), Evaluation({}, GOOD[:-1], REFS[:-1]), EvalConfig())
