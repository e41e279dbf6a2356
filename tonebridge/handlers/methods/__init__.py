"""Fine-tuning ToneBridge models: one config and one runner per method, like trl.

- ``sft``: :class:`SFTConfig`, rows :class:`RewriteExample`; trl SFTTrainer + LoRA.
- ``qlora``: the same, with a 4-bit (or 8-bit) base; needs CUDA unless ``allow_cpu``.
- ``dpo``: :class:`DPOConfig`, rows :class:`PreferenceExample`; trl DPOTrainer + LoRA.
- ``kto``: :class:`KTOConfig`, rows :class:`LabeledRewrite`; trl KTOTrainer + LoRA.
- ``orpo``: :class:`ORPOConfig`, rows :class:`PreferenceExample`; trl ORPOTrainer + LoRA.
- ``rlhf``: :class:`RLHFConfig`, rows :class:`RatedRewrite`; trl RewardTrainer, then
  GRPOTrainer or RLOOTrainer + LoRA against the reward model.

Entry point: :func:`run_training` (configs from job options: :func:`make_config`); every
method's config, dataset format, rows and runner: :data:`~.registry.METHODS`.
Importing this package does not import torch; the runners import torch, transformers,
peft and trl when they run. :mod:`.inference` (generation, scoring), :mod:`.tiny` and
:mod:`.synthetic` (a tiny local model and task for tests and demos) are imported on demand.
:mod:`.tracking` (light): W&B reporting and the hub token of a run (see docs/trainer.md).
"""

from tonebridge.handlers.methods.config import TrainingConfig, require_trainable
from tonebridge.handlers.methods.control import (
    FINAL_MARKER,
    ProgressSink,
    ProgressUpdate,
    RunStatus,
    StopSignal,
    TrainingResult,
)
from tonebridge.handlers.methods.dispatch import make_config, run_training
from tonebridge.handlers.methods.dpo import DPOConfig
from tonebridge.handlers.methods.examples import (
    LabeledRewrite,
    PreferenceExample,
    RatedRewrite,
    RewriteExample,
    labels_from_ratings,
    preferences_from_ratings,
)
from tonebridge.handlers.methods.kto import KTOConfig
from tonebridge.handlers.methods.orpo import ORPOConfig
from tonebridge.handlers.methods.prompts import PROMPT_TEMPLATE, format_completion, format_prompt
from tonebridge.handlers.methods.registry import METHODS, Method
from tonebridge.handlers.methods.rlhf import RLHFConfig
from tonebridge.handlers.methods.sft import SFTConfig
from tonebridge.job_kinds import TRAINING_KINDS, TrainingKind

__all__ = [
    "FINAL_MARKER",
    "PROMPT_TEMPLATE",
    "TRAINING_KINDS",
    "DPOConfig",
    "KTOConfig",
    "LabeledRewrite",
    "METHODS",
    "Method",
    "ORPOConfig",
    "PreferenceExample",
    "ProgressSink",
    "ProgressUpdate",
    "RLHFConfig",
    "RatedRewrite",
    "RewriteExample",
    "RunStatus",
    "SFTConfig",
    "StopSignal",
    "TrainingConfig",
    "TrainingKind",
    "TrainingResult",
    "format_completion",
    "format_prompt",
    "labels_from_ratings",
    "make_config",
    "preferences_from_ratings",
    "require_trainable",
    "run_training",
]
