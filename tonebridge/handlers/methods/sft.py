"""Supervised fine-tuning with a LoRA adapter (trl ``SFTTrainer``); QLoRA with ``quantization``.

Rows are formatted as prompt/completion pairs, so the loss falls on the rewrite only.

Speed (measured in ``bench/train_throughput.py``, see docs/benchmarks.md): on a GPU the
rows are packed (best-fit decreasing, padding-free), so no compute goes to padding and
each step carries ``batch_size`` rows of ``max_seq_length`` tokens; note that
``batch_size`` then counts packed rows, not examples. On a CPU, masked attention over
packed rows costs more than the padding it saves, so rows are not packed there. Batches
are not grouped by length either: length follows the tone here, and tone-uniform
batches made the tiny model collapse onto one tone (loss 0.47 vs 0.40 after 400 steps).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from tonebridge.handlers.methods.config import TrainingConfig
from tonebridge.handlers.methods.control import RunControl, TrainingResult
from tonebridge.handlers.methods.examples import RewriteExample, require_rows
from tonebridge.handlers.methods.prompts import format_completion, format_prompt


class SFTConfig(TrainingConfig):
    """LoRA SFT options; ``quantization="4bit"|"8bit"`` makes it QLoRA (needs CUDA)."""

    packing: bool | None = Field(default=None, description="None: pack on CUDA only.")


def sft_records(rows: Sequence[RewriteExample]) -> list[dict[str, str]]:
    """trl's prompt/completion format, with our prompt template."""
    return [
        {
            "prompt": format_prompt(row.input_text, row.transformation_type),
            "completion": format_completion(row.target_text),
        }
        for row in rows
    ]


def train_sft(
    config: SFTConfig, data: Sequence[RewriteExample], run: RunControl, *, kind: str = "sft"
) -> TrainingResult:
    """Fit a LoRA adapter on ``data``; save it under ``run.output_dir/adapter`` if not stopped."""
    rows = require_rows(data, RewriteExample)
    from datasets import Dataset
    from trl.trainer.sft_config import SFTConfig as TrlSFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    from tonebridge.handlers.methods import harness, loading
    from tonebridge.handlers.methods.callbacks import ProgressCallback

    harness.prepare(config)
    hardware = loading.detect_hardware()
    tokenizer = loading.load_tokenizer(config.base_model)
    model = loading.load_causal_lm(config, hardware)
    packing = hardware.cuda if config.packing is None else config.packing
    args = TrlSFTConfig(
        **harness.trainer_arguments(config, run.output_dir / "trainer", hardware),
        max_length=config.max_seq_length,
        packing=packing,
        completion_only_loss=True,
    )
    with harness.training_errors("preparing SFT"):
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(sft_records(rows)),
            processing_class=tokenizer,
            peft_config=loading.lora_config(config),
        )
    outcome = harness.run_phase(trainer, ProgressCallback(run, "sft"))
    return harness.finish(kind, config, trainer, outcome, run)
