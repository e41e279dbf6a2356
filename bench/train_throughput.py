"""LoRA SFT throughput: tonebridge's path vs a plain transformers Trainer, side by side.

Every variant trains a LoRA adapter (same r/alpha/targets) on the same synthetic rewrites
for the same epochs with the same batch size, learning rate and max length, with loss on
the completion only; each runs in a fresh process so its peak memory is its own.

- ``baseline``: ``transformers.Trainer`` + peft LoRA, dynamic padding, default settings.
- ``tonebridge``: ``run_training("sft", ...)`` with its defaults: trl SFT, fused AdamW;
  on a GPU bf16 and best-fit-decreasing packing (padding-free), on a CPU length-grouped
  batches instead of packing.
- ``tonebridge-packed`` / ``tonebridge-unpacked``: the same with packing forced on / off,
  to show packing's share on this hardware.

tokens/s counts the real (non-padding) tokens of the training set times the epochs,
divided by the trainer's train_runtime (setup excluded). Peak memory is the process'
peak RSS on CPU and ``torch.cuda.max_memory_allocated`` on GPU.

    python -m bench.train_throughput                      # tiny model, CPU
    python -m bench.train_throughput --size 125m --examples 4096 --epochs 1   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("baseline", "tonebridge", "tonebridge-packed", "tonebridge-unpacked")
PACKING = {"tonebridge": None, "tonebridge-packed": True, "tonebridge-unpacked": False}

# Llama shapes, built locally with random weights: throughput does not need trained ones.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {},
    "125m": {"hidden_size": 768, "intermediate_size": 2048, "num_layers": 12, "num_heads": 12},
    "350m": {"hidden_size": 1024, "intermediate_size": 2816, "num_layers": 24, "num_heads": 16},
    "1b": {"hidden_size": 2048, "intermediate_size": 5632, "num_layers": 22, "num_heads": 32},
}


@dataclass
class Measurement:
    variant: str
    device: str
    tokens: int
    seconds: float
    steps: int
    final_loss: float
    peak_memory_mib: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds


def model_dir(size: str, cache: Path) -> Path:
    from tonebridge.handlers.methods.tiny import TINY, ModelSpec, build_model

    if size == "tiny":
        return build_model(cache / "tiny", TINY)
    shape = SIZES[size]
    kv_heads = max(shape["num_heads"] // 4, 1)
    spec = ModelSpec(
        **shape, num_kv_heads=kv_heads, model_vocab=32000, max_positions=2048, pretrain_steps=0
    )
    return build_model(cache / size, spec)


def training_rows(count: int) -> list[Any]:
    from tonebridge.handlers.methods.synthetic import rewrite_split

    return rewrite_split(count, 0, seed=0).train


def real_tokens(model: Path, rows: list[Any], max_length: int) -> int:
    """Tokens of prompt + completion + EOS per example, truncated like the trainers do."""
    from transformers import AutoTokenizer

    from tonebridge.handlers.methods.sft import sft_records

    tokenizer = AutoTokenizer.from_pretrained(model)
    texts = [r["prompt"] + r["completion"] + tokenizer.eos_token for r in sft_records(rows)]
    return sum(min(len(ids), max_length) for ids in tokenizer(texts)["input_ids"])


def run_baseline(
    model: Path, rows: list[Any], args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    from tonebridge.handlers.methods.sft import sft_records

    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token

    def tokenize(row: dict[str, str]) -> dict[str, list[int]]:
        prompt = tokenizer(row["prompt"])["input_ids"]
        full = tokenizer(row["prompt"] + row["completion"] + tokenizer.eos_token)["input_ids"]
        full = full[: args.max_length]
        labels = [-100] * len(prompt) + full[len(prompt) :]
        return {"input_ids": full, "attention_mask": [1] * len(full), "labels": labels[: len(full)]}

    dataset = Dataset.from_list(sft_records(rows)).map(
        tokenize, remove_columns=["prompt", "completion"]
    )
    base = AutoModelForCausalLM.from_pretrained(model)
    lora = LoraConfig(
        r=8,
        lora_alpha=32,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    training_args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        num_train_epochs=args.epochs,
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=0,
    )
    trainer = Trainer(
        model=get_peft_model(base, lora),
        args=training_args,
        train_dataset=dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True),
    )
    output = trainer.train()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return {
        "seconds": output.metrics["train_runtime"],
        "steps": trainer.state.global_step,
        "final_loss": losses[-1] if losses else float("nan"),
    }


def run_tonebridge(
    model: Path, rows: list[Any], args: argparse.Namespace, out: Path, *, packing: bool | None
) -> dict[str, Any]:
    from tonebridge.handlers.methods import SFTConfig, run_training

    config = SFTConfig(
        base_model=str(model),
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        max_seq_length=args.max_length,
        lora_r=8,
        lora_alpha=32,
        lora_dropout=0.0,
        packing=packing,
        seed=0,
        log_every_steps=10,
    )
    result = run_training("sft", config, rows, output_dir=out)
    return {
        "seconds": result.metrics["train_runtime"],
        "steps": result.steps,
        "final_loss": result.metrics.get("final_loss", float("nan")),
    }


def peak_memory_mib() -> tuple[str, float]:
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.cuda.max_memory_allocated() / 2**20
    return "cpu", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(args: argparse.Namespace) -> None:
    """One variant in this (fresh) process; prints one JSON line."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model = model_dir(args.size, args.cache_dir)
    rows = training_rows(args.examples)
    with tempfile.TemporaryDirectory() as out:
        if args.worker == "baseline":
            run = run_baseline(model, rows, args, Path(out))
        else:
            packing = PACKING[args.worker]
            run = run_tonebridge(model, rows, args, Path(out), packing=packing)
    device, peak = peak_memory_mib()
    tokens = real_tokens(model, rows, args.max_length) * args.epochs
    print(
        json.dumps(
            {
                "variant": args.worker,
                "device": device,
                "tokens": tokens,
                "peak_memory_mib": peak,
                **run,
            }
        )
    )


def measure(variant: str, argv: list[str]) -> Measurement:
    command = [sys.executable, "-m", "bench.train_throughput", "--worker", variant, *argv]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        msg = f"{variant} failed:\n{done.stderr[-4000:]}"
        raise SystemExit(msg)
    return Measurement(**json.loads(done.stdout.strip().splitlines()[-1]))


def report(results: list[Measurement]) -> None:
    base = results[0].tokens_per_second
    header = ("variant", "device", "tokens/s", "speed-up", "steps", "loss", "peak MiB")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in results:
        cells = (
            r.variant,
            r.device,
            f"{r.tokens_per_second:,.0f}",
            f"{r.tokens_per_second / base:.2f}x",
            str(r.steps),
            f"{r.final_loss:.3f}",
            f"{r.peak_memory_mib:,.0f}",
        )
        print("| " + " | ".join(cells) + " |")


def parse(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per variant; the best counts")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "tonebridge-bench-models"
    )
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--worker"]
    return args, forwarded


def main(argv: list[str] | None = None) -> None:
    args, forwarded = parse(argv)
    if args.worker:
        worker(args)
        return
    model_dir(args.size, args.cache_dir)  # build once, before the timed workers
    started = time.monotonic()
    results = []
    for variant in VARIANTS:
        runs = [measure(variant, forwarded) for _ in range(args.repeats)]
        results.append(max(runs, key=lambda r: r.tokens_per_second))
    report(results)
    print(f"\nsettings: {json.dumps({k: str(v) for k, v in vars(args).items() if k != 'worker'})}")
    print(f"wall time: {time.monotonic() - started:.0f} s")
    print(json.dumps([{**asdict(r), "tokens_per_second": r.tokens_per_second} for r in results]))


if __name__ == "__main__":
    main()
