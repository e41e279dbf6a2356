"""Kahneman-Tversky optimisation with a LoRA adapter (trl ``KTOTrainer``).

KTO learns from single rewrites judged good or bad, no pairs needed: the natural shape of
thumbs-up/down feedback. trl estimates its KL term from mismatched rows of a batch, so
the batch needs at least two rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from tonebridge.handlers.methods.config import TrainingConfig
from tonebridge.handlers.methods.control import RunControl, TrainingResult
from tonebridge.handlers.methods.examples import LabeledRewrite, require_rows
from tonebridge.handlers.methods.prompts import format_completion, format_prompt

if TYPE_CHECKING:
    from tonebridge.handlers.methods.loading import Hardware


class KTOConfig(TrainingConfig):
    """KTO options; weight the rarer label up so both pull equally (trl recommends 1-1.33x)."""

    batch_size: int = Field(default=8, ge=2)
    beta: float = Field(default=0.1, gt=0)
    desirable_weight: float = Field(default=1.0, gt=0)
    undesirable_weight: float = Field(default=1.0, gt=0)


def kto_records(rows: Sequence[LabeledRewrite]) -> list[dict[str, object]]:
    return [
        {
            "prompt": format_prompt(row.input_text, row.transformation_type),
            "completion": format_completion(row.output_text),
            "label": row.desirable,
        }
        for row in rows
    ]


def train_kto(config: KTOConfig, data: Sequence[LabeledRewrite], run: RunControl) -> TrainingResult:
    """Fit a LoRA adapter towards desirable rewrites and away from undesirable ones."""
    rows = require_rows(data, LabeledRewrite, minimum=2)
    from trl.trainer.kto_config import KTOConfig as TrlKTOConfig
    from trl.trainer.kto_trainer import KTOTrainer

    from tonebridge.handlers.methods import harness

    def trl_args(_: Hardware, common: dict[str, Any]) -> Any:
        return TrlKTOConfig(
            **common,
            max_length=config.max_seq_length,
            beta=config.beta,
            desirable_weight=config.desirable_weight,
            undesirable_weight=config.undesirable_weight,
        )

    fit = harness.Fit("kto", KTOTrainer, trl_args)
    return harness.fit_adapter("kto", config, run, fit, kto_records(rows))
