"""Held-out evaluation of a tone model, and a paired comparison of two models.

On the validation split: loss and perplexity of the corrections given the prompts; chrF and
BLEU (sacrebleu) of greedy rewrites against the corrections; preference accuracy on held-out
DPO pairs (the chosen completion's log-probability beats the rejected one's).

Two models are compared on the same examples with a paired bootstrap of the corpus chrF
difference (Koehn 2004), the way ``sacrebleu``'s own paired test resamples sentence
statistics; the seed is fixed so a comparison is reproducible.

torch and transformers are imported inside functions so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sacrebleu.metrics.bleu import BLEU
from sacrebleu.metrics.chrf import CHRF

if TYPE_CHECKING:
    import torch

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


# --- model scoring ----------------------------------------------------------------------


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)


def _encode_pair(tokenizer: Any, prompt: str, completion: str) -> tuple[list[int], int]:
    """Prompt and completion tokenised apart (as TRL does), EOS closing the completion."""
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        completion_ids = [*completion_ids, tokenizer.eos_token_id]
    return [*prompt_ids, *completion_ids], len(prompt_ids)


def completion_logprobs(
    model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], batch_size: int = 8
) -> list[tuple[float, int]]:
    """(sum of completion-token log-probabilities, completion tokens) per (prompt, completion)."""
    import torch

    results: list[tuple[float, int]] = []
    for start in range(0, len(pairs), batch_size):
        encoded = [_encode_pair(tokenizer, p, c) for p, c in pairs[start : start + batch_size]]
        ids, mask, labels = _batch(encoded, _pad_id(tokenizer))
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets = labels[:, 1:]
        logp = torch.log_softmax(logits, -1).gather(-1, targets.clamp(min=0).unsqueeze(-1))
        keep = targets >= 0
        sums = (logp.squeeze(-1) * keep).sum(-1)
        results.extend(zip(sums.tolist(), keep.sum(-1).tolist(), strict=True))
    return results


def _batch(
    encoded: Sequence[tuple[list[int], int]], pad: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, attention mask and labels (-100 outside the completion)."""
    import torch

    width = max(len(ids) for ids, _ in encoded)
    ids = torch.full((len(encoded), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, (tokens, prompt_len) in enumerate(encoded):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
        labels[row, prompt_len : len(tokens)] = ids[row, prompt_len : len(tokens)]
    return ids, mask, labels


def _prompt(row: Example) -> str:
    from tonebridge.handlers.training.prompts import format_prompt

    return format_prompt(str(row["input_text"]), str(row["transformation_type"]))


def _completion(text: str) -> str:
    from tonebridge.handlers.training.prompts import format_completion

    return format_completion(text)


def loss_and_perplexity(
    model: Any, tokenizer: Any, examples: Sequence[Example], batch_size: int = 8
) -> dict[str, float]:
    """Mean per-token NLL of the corrections given the prompts, and its exponential."""
    pairs = [(_prompt(e), _completion(e["target_text"])) for e in examples]
    scored = completion_logprobs(model, tokenizer, pairs, batch_size)
    tokens = sum(n for _, n in scored)
    if tokens == 0:
        return {}
    loss = -sum(s for s, _ in scored) / tokens
    return {"eval_loss": loss, "perplexity": math.exp(min(loss, 50.0))}


def preference_accuracy(
    model: Any, tokenizer: Any, pairs: Sequence[Example], batch_size: int = 8
) -> dict[str, float]:
    """Share of held-out pairs where log p(chosen) > log p(rejected)."""
    if not pairs:
        return {}
    chosen = completion_logprobs(
        model, tokenizer, [(_prompt(p), _completion(p["chosen"])) for p in pairs], batch_size
    )
    rejected = completion_logprobs(
        model, tokenizer, [(_prompt(p), _completion(p["rejected"])) for p in pairs], batch_size
    )
    wins = sum(c > r for (c, _), (r, _) in zip(chosen, rejected, strict=True))
    return {"preference_accuracy": wins / len(pairs), "num_pairs": float(len(pairs))}


def generate(model: Any, tokenizer: Any, prompts: Sequence[str], config: EvalConfig) -> list[str]:
    """Greedy rewrites, left-padded batches, decoded without the prompt."""
    import torch

    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    outputs: list[str] = []
    for start in range(0, len(prompts), config.batch_size):
        batch = tokenizer(
            list(prompts[start : start + config.batch_size]), return_tensors="pt", padding=True
        )
        with torch.inference_mode():
            generated = model.generate(
                **batch,
                max_new_tokens=config.max_new_tokens,
                do_sample=False,
                pad_token_id=_pad_id(tokenizer),
            )
        new_tokens = generated[:, batch["input_ids"].shape[1] :]
        outputs.extend(
            t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        )
    return outputs


def evaluate_model(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    pairs: Sequence[Example] = (),
    config: EvalConfig | None = None,
) -> Evaluation:
    """All held-out metrics of one model (``examples`` sft rows, ``pairs`` dpo rows)."""
    config = config or EvalConfig()
    examples, pairs = list(examples)[: config.max_examples], list(pairs)[: config.max_examples]
    model.eval()
    metrics = {"num_examples": float(len(examples))}
    metrics |= loss_and_perplexity(model, tokenizer, examples, config.batch_size)
    metrics |= preference_accuracy(model, tokenizer, pairs, config.batch_size)
    hypotheses = generate(model, tokenizer, [_prompt(e) for e in examples], config)
    references = [str(e["target_text"]).strip() for e in examples]
    metrics |= text_scores(hypotheses, references)
    return Evaluation(metrics, hypotheses, references)


def load_model(base_model: str, adapter_dir: str | None = None) -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a local folder or hub id, with an optional adapter."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    has_own = adapter_dir is not None and (Path(adapter_dir) / "tokenizer_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir if has_own else base_model)
    model: Any = AutoModelForCausalLM.from_pretrained(base_model)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir)
    return model, tokenizer
