"""Odds-ratio preference optimisation with a LoRA adapter (trl ``experimental.orpo``).

ORPO (Hong et al. 2024, https://huggingface.co/papers/2403.07691) learns from the same
pairs as DPO (``chosen`` over ``rejected``) in one stage and without a reference policy:
its loss is the chosen rewrite's language-model loss plus ``beta`` times a penalty on the
log odds of the rejected one against the chosen one. trl 1.16 ships it under
``trl.experimental``, whose import warns that its API may change: only this module uses it,
so such a change upstream touches nothing else.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from tonebridge.handlers.methods.config import TrainingConfig
from tonebridge.handlers.methods.control import RunControl, TrainingResult
from tonebridge.handlers.methods.dpo import dpo_records
from tonebridge.handlers.methods.examples import PreferenceExample, require_rows

if TYPE_CHECKING:
    from tonebridge.handlers.methods.loading import Hardware


class ORPOConfig(TrainingConfig):
    """ORPO options: ``beta`` weighs the odds-ratio term against the SFT loss (λ, paper 0.1)."""

    beta: float = Field(default=0.1, gt=0)


def train_orpo(
    config: ORPOConfig, data: Sequence[PreferenceExample], run: RunControl
) -> TrainingResult:
    """Fit a LoRA adapter that writes ``chosen`` and not ``rejected``; save it unless stopped."""
    rows = require_rows(data, PreferenceExample)
    from tonebridge.handlers.methods import harness

    trl_config, trainer_type = _trl_orpo()

    def trl_args(_: Hardware, common: dict[str, Any]) -> Any:
        # fp16/bf16 are set in ``common`` from the hardware: trl's configs default to bf16.
        return trl_config(
            **common,
            max_length=config.max_seq_length,
            beta=config.beta,
            # trl's pair collator needs the raw columns; it would switch this off with a warning.
            remove_unused_columns=False,
        )

    fit = harness.Fit("orpo", trainer_type, trl_args)
    return harness.fit_adapter("orpo", config, run, fit, dpo_records(rows))


def _trl_orpo() -> tuple[Any, Any]:
    """trl's ORPO config and trainer, without the notice its experimental package warns with.

    The notice is known and accepted (module docstring); left on, it is one more warning in
    every trainer's log. The filter is scoped to this import and to that category.
    """
    from trl.import_utils import TRLExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TRLExperimentalWarning)
        from trl.experimental.orpo import ORPOConfig as TrlORPOConfig
        from trl.experimental.orpo import ORPOTrainer
    return TrlORPOConfig, ORPOTrainer
