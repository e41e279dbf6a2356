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
from typing import TYPE_CHECKING, Any

from pydantic import Field

from tonebridge.handlers.methods.config import TrainingConfig
from tonebridge.handlers.methods.control import RunControl, TrainingResult
from tonebridge.handlers.methods.examples import RewriteExample, require_rows
from tonebridge.handlers.methods.prompts import format_completion, format_prompt

if TYPE_CHECKING:
    from tonebridge.handlers.methods.loading import Hardware


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
    from trl.trainer.sft_config import SFTConfig as TrlSFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    from tonebridge.handlers.methods import harness

    def trl_args(hardware: Hardware, common: dict[str, Any]) -> Any:
        packing = hardware.cuda if config.packing is None else config.packing
        return TrlSFTConfig(
            **common, max_length=config.max_seq_length, packing=packing, completion_only_loss=True
        )

    fit = harness.Fit("sft", SFTTrainer, trl_args)
    return harness.fit_adapter(kind, config, run, fit, sft_records(rows))
