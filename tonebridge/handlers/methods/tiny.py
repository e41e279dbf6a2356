"""A tiny Llama for the synthetic task, built locally (no hub): for tests, demos and benchmarks.

A byte-level BPE tokenizer is trained on the synthetic corpus, a small ``LlamaConfig``
model (with ``q/k/v/o_proj`` for LoRA) is pre-trained briefly on the corpus' plain
sentences, and both are saved with ``save_pretrained``. The pre-training matters: a
random base barely moves under LoRA. The prompt format itself is never pre-trained, so
fine-tuning has something to learn. A finished directory is reused (see ``build_model``).

Heavy module (torch, transformers, tokenizers).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from tonebridge.handlers.methods.prompts import format_completion, format_prompt
from tonebridge.handlers.methods.synthetic import all_rewrites, corpus_sentences

BUILD_VERSION = 3
MARKER = "tiny_model.json"
BOS, EOS = "<s>", "</s>"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Shape of the model and how long to pre-train it; the defaults build the tiny one."""

    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    tokenizer_vocab: int = 1024
    model_vocab: int = 0  # >0 pads the embedding to a realistic vocabulary size
    max_positions: int = 256
    pretrain_steps: int = 300
    pretrain_batch: int = 32
    pretrain_lr: float = 3e-3


TINY = ModelSpec()


def build_model(directory: Path, spec: ModelSpec = TINY, *, seed: int = 0) -> Path:
    """Build the model into ``directory`` unless a finished build of ``spec`` is there."""
    fingerprint = {"version": BUILD_VERSION, "seed": seed, **asdict(spec)}
    if _finished(directory, fingerprint):
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=directory.parent))
    try:
        _build_into(staging, spec, seed)
        (staging / MARKER).write_text(json.dumps(fingerprint, sort_keys=True), encoding="utf-8")
        _publish(staging, directory, fingerprint)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def _finished(directory: Path, fingerprint: dict[str, object]) -> bool:
    marker = directory / MARKER
    return marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == fingerprint


def _publish(staging: Path, directory: Path, fingerprint: dict[str, object]) -> None:
    """Rename into place; a concurrent builder that finished first wins."""
    if directory.exists() and not _finished(directory, fingerprint):
        shutil.rmtree(directory)
    try:
        os.replace(staging, directory)
    except OSError:
        if not _finished(directory, fingerprint):
            raise


@contextmanager
def _one_thread_for_tiny(spec: ModelSpec) -> Iterator[None]:
    """A 64-wide model gains nothing from more threads, and loses a lot to spin-waiting
    OpenMP threads on a busy host (measured: 5.6 s on 1 thread vs 47 s on 2)."""
    previous = torch.get_num_threads()
    if spec.hidden_size <= 256:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _build_into(directory: Path, spec: ModelSpec, seed: int) -> None:
    with _one_thread_for_tiny(spec):
        _build(directory, spec, seed)


def _build(directory: Path, spec: ModelSpec, seed: int) -> None:
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(_tokenizer_corpus(), spec.tokenizer_vocab)
    model = LlamaForCausalLM(_llama_config(spec, tokenizer))  # type: ignore[no-untyped-call]
    if spec.pretrain_steps:
        pretrain(model, tokenizer, corpus_sentences(), spec, seed)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def _tokenizer_corpus() -> list[str]:
    """Sentences as they appear in prompts and as completions (after a space), so the
    template's words and the rewrites get whole-word tokens."""
    sentences = corpus_sentences()
    prompts = [format_prompt(ex.input_text, ex.transformation_type) for ex in all_rewrites()]
    return prompts + [format_completion(text) for text in sentences]


def train_tokenizer(texts: Sequence[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE; pads with EOS and adds no BOS (what the reward head pools must match)."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=EOS
    )


def _llama_config(spec: ModelSpec, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=max(len(tokenizer), spec.model_vocab),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def pretrain(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    texts: Sequence[str],
    spec: ModelSpec,
    seed: int,
) -> float:
    """Plain language modelling on ``texts``; returns the last batch's loss.

    Each text is written as a completion is (after BOS and a space), so the first word's
    token is predicted too: otherwise ``ĠCould`` would never be trained, and LoRA on the
    attention alone could barely raise it later.
    """
    generator = torch.Generator().manual_seed(seed)
    documents = [BOS + format_completion(text) + EOS for text in texts]
    encoded = tokenizer(documents, padding=True, return_tensors="pt")
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.pretrain_lr)
    model.train()
    loss = math.nan
    steps = spec.pretrain_steps
    for step in range(steps):
        pick = torch.randint(len(texts), (spec.pretrain_batch,), generator=generator)
        ids, mask = encoded["input_ids"][pick], encoded["attention_mask"][pick]
        labels = ids.masked_fill(mask == 0, -100)
        batch_loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        batch_loss.backward()
        loss = batch_loss.item()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        for group in optimizer.param_groups:  # cosine decay: a short run still settles
            group["lr"] = spec.pretrain_lr * 0.5 * (1 + math.cos(math.pi * (step + 1) / steps))
    model.eval()  # type: ignore[no-untyped-call]
    return loss
