"""RLHF in two phases: a reward model learnt from ratings, then online RL against it.

1. Reward model: pairs of rewrites of one input whose ratings differ (see
   :func:`~tonebridge.handlers.methods.examples.preferences_from_ratings`) train a
   one-output sequence-classification head on the base model with trl's ``RewardTrainer``
   (Bradley-Terry loss), through a LoRA adapter (merged afterwards) or fully.
2. Policy: a LoRA adapter on the base model is trained online with trl's ``GRPOTrainer``
   (or ``RLOOTrainer``): it samples ``num_generations`` rewrites per prompt, scores them with
   the reward model and moves towards the better-than-average ones.

trl 1.16 has no ``PPOTrainer`` any more; GRPO and RLOO are its online RL methods, and
need no value model (the group of samples is the baseline). PPO's options are accepted under
their PPO names and become their GRPO/RLOO counterparts (:data:`PPO_OPTIONS`); those that
only exist for a value model or GAE are refused with the reason (:data:`PPO_ONLY`).

The KL penalty against the base model (trl's ``beta``) is 0.1 by default, as PPO's
``kl_coef`` was: the policy may not drift far from fluent text for the reward model's sake.
With LoRA the reference is the base model with the adapter switched off (no second copy).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field, model_validator

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods.config import TrainingConfig
from tonebridge.handlers.methods.control import RunControl, TrainingResult
from tonebridge.handlers.methods.examples import (
    PreferenceExample,
    RatedRewrite,
    preferences_from_ratings,
    require_rows,
)
from tonebridge.handlers.methods.prompts import format_completion, format_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from tonebridge.handlers.methods.control import LoggedStep
    from tonebridge.handlers.methods.harness import PhaseOutcome
    from tonebridge.handlers.methods.loading import Hardware

PHASES = ("reward_model", "policy")
REWARD_PREFIX = "reward_model/"
# PPO's option names (trl's former PPOConfig) -> this config's fields, which map to trl's
# GRPOConfig/RLOOConfig fields of the same meaning (see _policy_arguments).
PPO_OPTIONS = {
    "kl_coef": "kl_beta",  # -> beta
    "init_kl_coef": "kl_beta",  # -> beta
    "cliprange": "clip_epsilon",  # -> epsilon
    "ppo_epochs": "num_iterations",  # -> num_iterations
    "num_ppo_epochs": "num_iterations",  # -> num_iterations
    "response_length": "max_completion_length",  # -> max_completion_length
}
# PPO options with no GRPO/RLOO counterpart: there is no value model and no GAE.
PPO_ONLY = ("vf_coef", "cliprange_value", "gamma", "lam")


class RLHFConfig(TrainingConfig):
    """Options of both phases; ``batch_size`` etc. apply to the policy phase."""

    algorithm: Literal["grpo", "rloo"] = "grpo"
    num_generations: int = Field(default=4, ge=2, description="Samples per prompt.")
    max_completion_length: int = Field(default=48, ge=1)
    temperature: float = Field(default=1.0, gt=0)
    kl_beta: float = Field(
        default=0.1, ge=0, description="KL penalty (trl beta; PPO kl_coef); 0: none, faster."
    )
    clip_epsilon: float = Field(
        default=0.2, gt=0, lt=1, description="Ratio clip (trl epsilon; PPO cliprange)."
    )
    num_iterations: int = Field(
        default=1, ge=1, description="Updates per generated batch (PPO ppo_epochs)."
    )
    min_rating_gap: float = Field(default=1.0, gt=0)
    reward_lora: bool = Field(default=True, description="LoRA on the reward model, else full.")
    reward_learning_rate: float | None = Field(default=None, gt=0, lt=1)
    reward_epochs: float = Field(default=1.0, gt=0)
    reward_max_steps: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _ppo_names(cls, values: object) -> object:
        return ppo_to_online(values) if isinstance(values, Mapping) else values

    @model_validator(mode="after")
    def _whole_groups(self) -> Self:
        if (self.batch_size * self.gradient_accumulation_steps) % self.num_generations:
            msg = "batch_size x gradient_accumulation_steps must be a multiple of num_generations"
            raise ValueError(msg)
        return self

    def reward_phase(self) -> TrainingConfig:
        """The shared options as the reward model's phase sees them."""
        return TrainingConfig.model_validate(
            {
                **self.model_dump(include=set(TrainingConfig.model_fields)),
                "learning_rate": self.reward_learning_rate or self.learning_rate,
                "epochs": self.reward_epochs,
                "max_steps": self.reward_max_steps,
            }
        )


def ppo_to_online(values: Mapping[str, object]) -> dict[str, object]:
    """Options given under PPO names, under this config's names; a clash or an option only
    PPO has is a ``ValueError`` (a :class:`TrainingError` with the reason from parse_config)."""
    renamed = {k: v for k, v in values.items() if k not in PPO_OPTIONS}
    for ppo_name in (k for k in values if k in PPO_OPTIONS):
        name = PPO_OPTIONS[ppo_name]
        if name in renamed:
            msg = f"{ppo_name} is PPO's name for {name}: give one of them"
            raise ValueError(msg)
        renamed[name] = values[ppo_name]
    dropped = [name for name in PPO_ONLY if name in values]
    if dropped:
        msg = f"{', '.join(dropped)}: PPO options with no GRPO/RLOO counterpart (no value model)"
        raise ValueError(msg)
    return renamed


def reward_records(pairs: Sequence[PreferenceExample]) -> list[dict[str, str]]:
    return [
        {
            "prompt": format_prompt(pair.input_text, pair.transformation_type),
            "chosen": format_completion(pair.chosen),
            "rejected": format_completion(pair.rejected),
        }
        for pair in pairs
    ]


def prompt_records(rows: Sequence[RatedRewrite]) -> list[dict[str, str]]:
    """One row per distinct (input, tone), in first-seen order."""
    prompts = dict.fromkeys(format_prompt(r.input_text, r.transformation_type) for r in rows)
    return [{"prompt": prompt} for prompt in prompts]


@dataclass(frozen=True, slots=True)
class _Session:
    """What both phases of one run share."""

    config: RLHFConfig
    run: RunControl
    hardware: Hardware
    tokenizer: PreTrainedTokenizerBase
    started: float


@dataclass(frozen=True, slots=True)
class _RewardModel:
    scorer: PreTrainedModel
    outcome: PhaseOutcome
    directory: Path


def train_rlhf(config: RLHFConfig, data: Sequence[RatedRewrite], run: RunControl) -> TrainingResult:
    """Reward model, then RL; the policy adapter is saved only if both phases complete."""
    rows = require_rows(data, RatedRewrite)
    pairs = preferences_from_ratings(rows, min_gap=config.min_rating_gap)
    if not pairs:
        msg = f"no two rewrites of one input differ in rating by {config.min_rating_gap} or more"
        raise TrainingError(msg)
    from tonebridge.handlers.methods import harness, loading

    harness.prepare(config)
    hardware = loading.detect_hardware()
    tokenizer = loading.load_tokenizer(config.base_model, token=run.tracking.huggingface_token)
    session = _Session(config, run, hardware, tokenizer, time.monotonic())
    reward = _train_reward_model(session, pairs)
    if isinstance(reward, _RewardModel):
        return _train_policy(session, rows, reward)
    return _stopped(reward)


def _train_reward_model(
    session: _Session, pairs: Sequence[PreferenceExample]
) -> _RewardModel | PhaseOutcome:
    """The scorer, merged (no adapter left) and saved; the bare outcome if stopped."""
    from datasets import Dataset
    from peft import TaskType
    from trl.trainer.reward_config import RewardConfig
    from trl.trainer.reward_trainer import RewardTrainer

    from tonebridge.handlers.methods import harness, loading
    from tonebridge.handlers.methods.callbacks import ProgressCallback

    config, run, tokenizer = session.config, session.run, session.tokenizer
    phase = config.reward_phase()
    model = loading.load_sequence_scorer(
        phase, session.hardware, lora=config.reward_lora, pad_token_id=tokenizer.pad_token_id,
        token=run.tracking.huggingface_token,
    )  # fmt: skip
    common = harness.trainer_arguments(
        phase, run.output_dir / "reward_trainer", session.hardware, run.tracking,
        run.trainer_options,
    )  # fmt: skip
    args = RewardConfig(**common, max_length=config.max_seq_length)
    peft = loading.lora_config(phase, TaskType.SEQ_CLS) if config.reward_lora else None
    with harness.training_errors("preparing the reward model"):
        trainer = RewardTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(reward_records(pairs)),
            processing_class=tokenizer,
            peft_config=peft,
        )
    callback = ProgressCallback(run, PHASES[0], phase_count=2, run_started=session.started)
    outcome = harness.run_phase(trainer, callback)
    if outcome.stopped:
        return outcome
    return _save_scorer(session, trainer.model, outcome, write=trainer.is_world_process_zero())


def _save_scorer(
    session: _Session, trained: Any, outcome: PhaseOutcome, *, write: bool = True
) -> _RewardModel:
    """The reward model for the policy phase; saved by the first process only (``write``)."""
    from tonebridge.handlers.methods import harness

    scorer: PreTrainedModel = trained.merge_and_unload() if session.config.reward_lora else trained
    scorer.eval()  # type: ignore[no-untyped-call]
    directory = session.run.output_dir / "reward_model"
    with harness.training_errors("saving the reward model"):
        if write:
            scorer.save_pretrained(directory)
            session.tokenizer.save_pretrained(directory)
    return _RewardModel(scorer, outcome, directory)


def _train_policy(
    session: _Session, rows: Sequence[RatedRewrite], reward: _RewardModel
) -> TrainingResult:
    from datasets import Dataset

    from tonebridge.handlers.methods import harness, loading
    from tonebridge.handlers.methods.callbacks import ProgressCallback

    config, run = session.config, session.run
    model = loading.load_causal_lm(config, session.hardware, token=run.tracking.huggingface_token)
    config_type, trainer_type = _algorithm(config.algorithm)
    args = config_type(**_policy_arguments(config, run, session.hardware))
    with harness.training_errors(f"preparing {config.algorithm.upper()}"):
        trainer = trainer_type(
            model=model,
            reward_funcs=[reward.scorer],
            args=args,
            train_dataset=Dataset.from_list(prompt_records(rows)),
            processing_class=session.tokenizer,
            reward_processing_classes=[session.tokenizer],
            peft_config=loading.lora_config(config),
        )
    callback = ProgressCallback(
        run, PHASES[1], phase_index=1, phase_count=2, run_started=session.started
    )
    outcome = harness.run_phase(trainer, callback)
    outcome.metrics.update(_prefixed(reward.outcome.metrics))
    outcome = replace(outcome, history=_both_phases(reward.outcome, outcome))
    artifacts = {"reward_model": reward.directory}
    return harness.finish("rlhf", config, trainer, outcome, run, artifacts)


def _prefixed(metrics: Mapping[str, float]) -> dict[str, float]:
    return {f"{REWARD_PREFIX}{key}": value for key, value in metrics.items()}


def _both_phases(reward: PhaseOutcome, policy: PhaseOutcome) -> tuple[LoggedStep, ...]:
    """The reward model's steps (its keys prefixed, as its final metrics), then the policy's."""
    return _prefixed_steps(reward) + policy.history


def _prefixed_steps(reward: PhaseOutcome) -> tuple[LoggedStep, ...]:
    return tuple(replace(step, values=_prefixed(step.values)) for step in reward.history)


def _algorithm(name: str) -> tuple[Any, Any]:
    if name == "rloo":
        from trl.trainer.rloo_config import RLOOConfig
        from trl.trainer.rloo_trainer import RLOOTrainer

        return RLOOConfig, RLOOTrainer
    from trl.trainer.grpo_config import GRPOConfig
    from trl.trainer.grpo_trainer import GRPOTrainer

    return GRPOConfig, GRPOTrainer


def _policy_arguments(config: RLHFConfig, run: RunControl, hardware: Hardware) -> dict[str, Any]:
    from tonebridge.handlers.methods import harness

    return {
        **harness.trainer_arguments(
            config,
            run.output_dir / "policy_trainer",
            hardware,
            run.tracking,
            run.trainer_options,
        ),  # fmt: skip
        "num_generations": config.num_generations,
        "max_completion_length": config.max_completion_length,
        "temperature": config.temperature,
        "beta": config.kl_beta,
        "epsilon": config.clip_epsilon,
        "num_iterations": config.num_iterations,
    }


def _stopped(reward: PhaseOutcome) -> TrainingResult:
    metrics = _prefixed(reward.metrics)
    return TrainingResult(
        kind="rlhf",
        status="stopped",
        adapter_dir=None,
        steps=reward.steps,
        total_steps=reward.total_steps,
        epochs=reward.epochs,
        metrics=metrics,
        history=_prefixed_steps(reward),
    )
