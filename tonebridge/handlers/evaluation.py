"""Held-out evaluation of a tone model, and a paired comparison of two models.

On the validation split: loss and perplexity of the corrections given the prompts; chrF and
BLEU (sacrebleu) of greedy rewrites against the corrections; preference accuracy on held-out
DPO pairs (the chosen completion's log-probability beats the rejected one's).

Two models are compared on the same examples with a paired bootstrap of the corpus chrF
difference (Koehn 2004), the way ``sacrebleu``'s own paired test resamples sentence
statistics; the seed is fixed so a comparison is reproducible.

Models are loaded and scored with the runners' helpers (``training.inference``), which share
the training prompt template; they import torch, so they are imported inside functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import SecretStr
from sacrebleu.metrics.bleu import BLEU
from sacrebleu.metrics.chrf import CHRF

Example = dict[str, Any]
Verdict = Literal["candidate", "baseline", "tie"]


@dataclass(frozen=True)
class EvalConfig:
    max_new_tokens: int = 48
    batch_size: int = 8
    max_examples: int = 256
    bootstrap_samples: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one model on one held-out set, with what a comparison needs."""

    metrics: dict[str, float]
    hypotheses: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    """Candidate minus baseline corpus chrF, its 95% bootstrap interval and the verdict."""

    chrf_delta: float
    ci_low: float
    ci_high: float
    p_better: float
    verdict: Verdict

    def metrics(self, prefix: str = "vs_baseline_") -> dict[str, float]:
        return {
            f"{prefix}chrf_delta": self.chrf_delta,
            f"{prefix}chrf_delta_ci_low": self.ci_low,
            f"{prefix}chrf_delta_ci_high": self.ci_high,
            f"{prefix}p_better": self.p_better,
        }


# --- text metrics (pure) ----------------------------------------------------------------


def text_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus chrF and BLEU of rewrites against the corrections."""
    if not hypotheses:
        return {}
    refs = [list(references)]
    return {
        "chrf": float(CHRF().corpus_score(list(hypotheses), refs).score),
        "bleu": float(BLEU().corpus_score(list(hypotheses), refs).score),
    }


def _chrf_stats(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[CHRF, Any]:
    # sacrebleu's public paired test prints tables; its statistics API is what it uses inside.
    metric = CHRF()
    stats = metric._extract_corpus_statistics(list(hypotheses), [list(references)])
    return metric, np.asarray(stats, dtype=float)


def _corpus_chrf(metric: CHRF, stats: Any) -> float:
    return float(metric._compute_score_from_stats(stats.sum(0)).score)


def compare(candidate: Evaluation, baseline: Evaluation, config: EvalConfig) -> Comparison:
    """Paired bootstrap on the same references: is the candidate's chrF really higher?"""
    if candidate.references != baseline.references or not candidate.references:
        msg = "compare needs two evaluations on the same, non-empty held-out set"
        raise ValueError(msg)
    metric, cand = _chrf_stats(candidate.hypotheses, candidate.references)
    _, base = _chrf_stats(baseline.hypotheses, baseline.references)
    rng = np.random.default_rng(config.seed)
    n = len(candidate.references)
    deltas = np.empty(config.bootstrap_samples)
    for i in range(config.bootstrap_samples):
        idx = rng.integers(0, n, n)
        deltas[i] = _corpus_chrf(metric, cand[idx]) - _corpus_chrf(metric, base[idx])
    low, high = np.percentile(deltas, [2.5, 97.5])
    verdict: Verdict = "candidate" if low > 0 else "baseline" if high < 0 else "tie"
    delta = _corpus_chrf(metric, cand) - _corpus_chrf(metric, base)
    return Comparison(delta, float(low), float(high), float((deltas > 0).mean()), verdict)


# --- model scoring (the runners' inference helpers do the torch work) -------------------


@dataclass(frozen=True)
class HeldOut:
    """A held-out set: rewrites ``(input, tone, target)`` and pairs ``(input, tone, +, -)``."""

    rewrites: list[tuple[str, str, str]]
    pairs: list[tuple[str, str, str, str]]

    def __len__(self) -> int:
        return len(self.rewrites) + len(self.pairs)


def held_out(fmt: str, rows: Sequence[Example]) -> HeldOut:
    """What can be measured on validation rows of each dataset format."""
    if fmt == "sft":
        targets = [(r["input_text"], r["transformation_type"], r["target_text"]) for r in rows]
        return HeldOut(targets, [])
    if fmt == "dpo":
        pairs = [
            (r["input_text"], r["transformation_type"], r["chosen"], r["rejected"]) for r in rows
        ]
        return HeldOut([(i, t, c) for i, t, c, _ in pairs], pairs)
    good = [r for r in rows if r.get("desirable") or float(r.get("rating") or 0) >= 4]
    return HeldOut(
        [(r["input_text"], r["transformation_type"], r["output_text"]) for r in good], []
    )


def evaluate_loaded(loaded: Any, data: HeldOut, config: EvalConfig | None = None) -> Evaluation:
    """All held-out metrics of one loaded model (a ``training.inference.LoadedModel``)."""
    from tonebridge.handlers.methods.inference import generate_rewrites, score_completions

    config = config or EvalConfig()
    rewrites, pairs = data.rewrites[: config.max_examples], data.pairs[: config.max_examples]
    metrics = {"num_examples": float(len(rewrites))}
    if rewrites:
        scores = score_completions(loaded, rewrites, batch_size=config.batch_size)
        metrics |= _loss(sum(s.logprob for s in scores), sum(s.tokens for s in scores))
    if pairs:
        chosen = score_completions(loaded, [(i, t, c) for i, t, c, _ in pairs])
        rejected = score_completions(loaded, [(i, t, r) for i, t, _, r in pairs])
        wins = sum(c.logprob > r.logprob for c, r in zip(chosen, rejected, strict=True))
        metrics |= {"preference_accuracy": wins / len(pairs), "num_pairs": float(len(pairs))}
    requests = [(i, t) for i, t, _ in rewrites]
    hypotheses = generate_rewrites(
        loaded, requests, max_new_tokens=config.max_new_tokens, batch_size=config.batch_size
    )
    references = [target.strip() for _, _, target in rewrites]
    metrics |= text_scores(hypotheses, references)
    return Evaluation(metrics, hypotheses, references)


def _loss(logprob: float, tokens: int) -> dict[str, float]:
    if tokens == 0:
        return {}
    loss = -logprob / tokens
    return {"eval_loss": loss, "perplexity": math.exp(min(loss, 50.0))}


def evaluate_model(
    base_model: str,
    adapter_dir: Path | None,
    data: HeldOut,
    config: EvalConfig | None = None,
    *,
    token: SecretStr | None = None,
) -> Evaluation:
    """Load the base model (with ``adapter_dir`` on top) and evaluate it (sync, heavy).

    ``token``: the Hugging Face token, for a base model that is gated or private on the hub.
    """
    from tonebridge.handlers.methods.inference import load_for_inference

    loaded = load_for_inference(base_model, adapter_dir, token=token)
    return evaluate_loaded(loaded, data, config)
