"""Continual training: does a second round forget the first? Round 2 side by side.

The demo's shift (``tonebridge/demo/needs.py``), without the services: round 1 fine-tunes
the tiny base on corrections of the old tones (polite, formal); round 2 gets corrections of
the new tone (friendly) and trains one of these ways, all with the demo's quick options:

- ``base``: a fresh adapter on the base, the new corrections only (the old behaviour);
- ``parent``: round 1's adapter continued, the new corrections only;
- ``parent+replay``: round 1's adapter continued, plus a seeded share of the old corrections.

Each model's corpus chrF on held-out old and new requests (inputs never trained on).

    python -m bench.continual                 # replay share 0.3, 200 steps
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from tonebridge.decisions.continual import replay_sample
from tonebridge.demo.models import corpus_chrf
from tonebridge.demo.needs import NEW_TONE, Request, needs
from tonebridge.handlers.methods import SFTConfig, run_training
from tonebridge.handlers.methods.examples import RewriteExample
from tonebridge.handlers.methods.inference import generate_rewrites, load_for_inference
from tonebridge.handlers.methods.tiny import build_model

QUICK = {"batch_size": 16, "learning_rate": 0.01, "lora_r": 32, "lora_alpha": 64,
         "lora_dropout": 0.0, "warmup_steps": 0, "cpu_threads": 1}  # fmt: skip


def rows(requests: list[Request]) -> list[RewriteExample]:
    return [RewriteExample(r.input_text, r.target, r.tone) for r in requests]


def train(
    base: Path, data: list[RewriteExample], out: Path, steps: int, start: Path | None
) -> Path:
    config = SFTConfig(base_model=str(base), max_steps=steps, **QUICK)
    result = run_training("sft", config, data, output_dir=out, start_adapter=start)
    if result.adapter_dir is None:
        msg = f"{out.name} did not complete"
        raise SystemExit(msg)
    print(f"  trained {out.name}: loss {result.metrics['first_loss']:.2f} -> "
          f"{result.metrics['final_loss']:.2f}", flush=True)  # fmt: skip
    return result.adapter_dir


def score(base: Path, adapter: Path | None, held: list[Request]) -> float:
    loaded = load_for_inference(base, adapter)
    outputs = generate_rewrites(loaded, [(r.input_text, r.tone) for r in held], batch_size=32)
    return corpus_chrf(outputs, [r.target for r in held])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay", type=float, default=0.3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--model-dir", type=Path, help="where the tiny base is (built once)")
    args = parser.parse_args(argv)
    wanted = needs(160, 48, seed=0, rounds=2)
    old, new = wanted.for_round(1), [r for r in wanted.for_round(2) if r.tone == NEW_TONE][:80]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = build_model(args.model_dir or work / "tiny")
        v1 = train(base, rows(old), work / "round1", args.steps, None)
        replayed = replay_sample(old, args.replay, 42, key=lambda r: f"{r.input_text}|{r.tone}")
        variants: dict[str, Any] = {
            "base": (rows(new), None),
            "parent": (rows(new), v1),
            "parent+replay": (rows(new + replayed), v1),
        }
        models = {"base model": None, "round 1": v1}
        for name, (data, start) in variants.items():
            models[f"round 2 {name}"] = train(base, data, work / name, args.steps, start)
        print("| model | old requests | new requests |\n| --- | --- | --- |")
        for name, adapter in models.items():
            old_chrf = score(base, adapter, wanted.held_out_old)
            new_chrf = score(base, adapter, wanted.held_out_new)
            print(f"| {name} | {old_chrf:.1f} | {new_chrf:.1f} |", flush=True)


if __name__ == "__main__":
    main()
