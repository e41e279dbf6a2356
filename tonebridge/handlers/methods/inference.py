"""Use a trained adapter: generate rewrites and score completions (for evaluation and tests).

Heavy module (torch, transformers, peft). Inputs are ``(input_text, transformation_type)``
pairs, formatted with the same prompt template as training.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from peft import PeftModel
from pydantic import SecretStr
from transformers import AutoModelForCausalLM, PreTrainedTokenizerBase

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods.loading import load_tokenizer
from tonebridge.handlers.methods.prompts import format_completion, format_prompt
from tonebridge.handlers.methods.tracking import hub_kwargs

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LoadedModel:
    # A PreTrainedModel or a PeftModel around one; transformers' stubs type neither's
    # generate() in a way mypy can call, so this stays Any.
    model: Any
    tokenizer: PreTrainedTokenizerBase


@dataclass(frozen=True, slots=True)
class CompletionScore:
    """Log-probability of a completion (and its EOS) given the prompt, and its length."""

    logprob: float
    tokens: int


def load_for_inference(
    base_model: str | Path, adapter_dir: Path | None = None, *, token: SecretStr | None = None
) -> LoadedModel:
    """The base model, with the adapter from ``adapter_dir`` on top if given, in eval mode.

    ``token``: the Hugging Face token for a gated or private base model on the hub.
    """
    tokenizer = load_tokenizer(str(base_model), token=token)
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(str(base_model), **hub_kwargs(token))
        if adapter_dir is not None:
            model = PeftModel.from_pretrained(model, str(adapter_dir))
    except (OSError, ValueError) as exc:
        msg = f"cannot load {base_model} (adapter {adapter_dir}): {exc}"
        raise TrainingError(msg) from exc
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer)


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@torch.inference_mode()
def generate_rewrites(
    loaded: LoadedModel,
    requests: Sequence[tuple[str, str]],
    *,
    max_new_tokens: int = 48,
    batch_size: int = 16,
) -> list[str]:
    """Greedy rewrites of ``(input_text, transformation_type)`` pairs, first line only."""
    tokenizer, model = loaded.tokenizer, loaded.model
    outputs: list[str] = []
    for batch in _batches(requests, batch_size):
        prompts = [format_prompt(text, tone) for text, tone in batch]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
        generated = model.generate(
            **encoded.to(model.device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        new_tokens = generated[:, encoded["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        outputs.extend(text.strip().split("\n", 1)[0] for text in texts)
    return outputs


@torch.inference_mode()
def score_completions(
    loaded: LoadedModel, rows: Sequence[tuple[str, str, str]], *, batch_size: int = 32
) -> list[CompletionScore]:
    """Score ``(input_text, transformation_type, output_text)`` rows under the model."""
    scores: list[CompletionScore] = []
    for batch in _batches(rows, batch_size):
        scores.extend(_score_batch(loaded, batch))
    return scores


def _score_batch(
    loaded: LoadedModel, batch: Sequence[tuple[str, str, str]]
) -> list[CompletionScore]:
    tokenizer, model = loaded.tokenizer, loaded.model
    prompts = [format_prompt(text, tone) for text, tone, _ in batch]
    full = [
        p + format_completion(out) + tokenizer.eos_token
        for p, (_, _, out) in zip(prompts, batch, strict=True)
    ]
    prompt_lengths = torch.tensor([len(ids) for ids in tokenizer(prompts)["input_ids"]])
    encoded = tokenizer(full, return_tensors="pt", padding=True, padding_side="right").to(
        model.device
    )
    logits = model(**encoded).logits[:, :-1].float()
    targets = encoded["input_ids"][:, 1:]
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    positions = torch.arange(1, encoded["input_ids"].shape[1], device=logits.device)
    in_completion = positions.unsqueeze(0) >= prompt_lengths.to(logits.device).unsqueeze(1)
    mask = in_completion & encoded["attention_mask"][:, 1:].bool()
    sums, counts = (logprobs * mask).sum(dim=1), mask.sum(dim=1)
    return [CompletionScore(float(s), int(n)) for s, n in zip(sums, counts, strict=True)]


def mean_completion_loss(loaded: LoadedModel, rows: Sequence[tuple[str, str, str]]) -> float:
    """Token-averaged negative log-likelihood of the completions (lower is better)."""
    scores = score_completions(loaded, rows)
    tokens = sum(score.tokens for score in scores)
    if not tokens:
        msg = "no completion tokens to score"
        raise TrainingError(msg)
    return -sum(score.logprob for score in scores) / tokens
