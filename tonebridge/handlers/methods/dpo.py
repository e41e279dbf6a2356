"""Direct preference optimisation with a LoRA adapter (trl ``DPOTrainer``).

The reference policy is the base model itself: with a LoRA adapter trl computes it by
disabling the adapter, so no second copy of the model is held.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from tonebridge.handlers.methods.config import TrainingConfig
from tonebridge.handlers.methods.control import RunControl, TrainingResult
from tonebridge.handlers.methods.examples import PreferenceExample, require_rows
from tonebridge.handlers.methods.prompts import format_completion, format_prompt

if TYPE_CHECKING:
    from tonebridge.handlers.methods.loading import Hardware


class DPOConfig(TrainingConfig):
    """DPO options: ``beta`` is the strength of the pull towards the reference policy."""

    beta: float = Field(default=0.1, gt=0)
    loss_type: Literal["sigmoid", "hinge", "ipo", "robust", "apo_zero", "apo_down"] = "sigmoid"


def dpo_records(rows: Sequence[PreferenceExample]) -> list[dict[str, str]]:
    return [
        {
            "prompt": format_prompt(row.input_text, row.transformation_type),
            "chosen": format_completion(row.chosen),
            "rejected": format_completion(row.rejected),
        }
        for row in rows
    ]


def train_dpo(
    config: DPOConfig, data: Sequence[PreferenceExample], run: RunControl
) -> TrainingResult:
    """Fit a LoRA adapter that prefers ``chosen`` over ``rejected``; save it unless stopped."""
    rows = require_rows(data, PreferenceExample)
    from trl.trainer.dpo_config import DPOConfig as TrlDPOConfig
    from trl.trainer.dpo_trainer import DPOTrainer

    from tonebridge.handlers.methods import harness

    def trl_args(_: Hardware, common: dict[str, Any]) -> Any:
        return TrlDPOConfig(
            **common,
            max_length=config.max_seq_length,
            beta=config.beta,
            loss_type=[config.loss_type],
        )

    fit = harness.Fit("dpo", DPOTrainer, trl_args)
    return harness.fit_adapter("dpo", config, run, fit, dpo_records(rows))
