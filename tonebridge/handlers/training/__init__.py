"""Fine-tuning ToneBridge models: one config and one runner per method, like trl.

=========  ======================  =====================  ==========================
kind       config                  rows                   trl trainer
=========  ======================  =====================  ==========================
sft        :class:`SFTConfig`      :class:`RewriteExample`     SFTTrainer + LoRA
qlora      :class:`SFTConfig`      :class:`RewriteExample`     SFTTrainer + 4/8-bit LoRA
dpo        :class:`DPOConfig`      :class:`PreferenceExample`  DPOTrainer + LoRA
kto        :class:`KTOConfig`      :class:`LabeledRewrite`     KTOTrainer + LoRA
rlhf       :class:`RLHFConfig`     :class:`RatedRewrite`       RewardTrainer, GRPO/RLOO
=========  ======================  =====================  ==========================

Entry point: :func:`run_training`. Importing this package does not import torch; the
runners import torch, transformers, peft and trl when they run.
"""

from tonebridge.handlers.training.config import TrainingConfig, require_trainable
from tonebridge.handlers.training.control import (
    FINAL_MARKER,
    ProgressSink,
    ProgressUpdate,
    RunStatus,
    StopSignal,
    TrainingResult,
)
from tonebridge.handlers.training.dpo import DPOConfig
from tonebridge.handlers.training.examples import (
    LabeledRewrite,
    PreferenceExample,
    RatedRewrite,
    RewriteExample,
    labels_from_ratings,
    preferences_from_ratings,
)
from tonebridge.handlers.training.kto import KTOConfig
from tonebridge.handlers.training.prompts import PROMPT_TEMPLATE, format_completion, format_prompt
from tonebridge.handlers.training.rlhf import RLHFConfig
from tonebridge.handlers.training.runner import (
    TRAINING_KINDS,
    TrainingKind,
    make_config,
    run_training,
)
from tonebridge.handlers.training.sft import SFTConfig

__all__ = [
    "FINAL_MARKER",
    "PROMPT_TEMPLATE",
    "TRAINING_KINDS",
    "DPOConfig",
    "KTOConfig",
    "LabeledRewrite",
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
