"""Options shared by every training method; each method's config extends :class:`TrainingConfig`.

Defaults come from :class:`tonebridge.settings.Settings` (its declared defaults here, the
deployment's values through :meth:`TrainingConfig.from_settings`). Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from tonebridge.errors import TrainingError, UnsupportedModelError
from tonebridge.settings import Settings

Precision = Literal["auto", "fp32", "fp16", "bf16"]
Quantization = Literal["none", "4bit", "8bit"]

API_ONLY_PREFIXES = ("gpt-4", "gpt-3.5", "claude-", "gemini-")
LORA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


def _setting(name: str) -> Any:
    """The declared default of a settings field, so the two never drift apart."""
    return Settings.model_fields[name].default


def require_trainable(base_model: str) -> None:
    """Reject models that exist only behind someone's API: there are no weights to adapt.

    A local directory is always trainable, whatever its name.
    """
    name = base_model.strip().rsplit("/", 1)[-1].lower()
    if name.startswith(API_ONLY_PREFIXES) and not Path(base_model).is_dir():
        msg = f"{base_model} is an API-only model and cannot be fine-tuned with LoRA"
        raise UnsupportedModelError(msg)


class TrainingConfig(BaseModel):
    """Hyperparameters common to SFT, DPO, KTO and RLHF runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: str = Field(min_length=1, description="Local path or Hugging Face model id.")
    batch_size: int = Field(default=_setting("default_batch_size"), ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    learning_rate: float = Field(default=_setting("default_learning_rate"), gt=0, lt=1)
    epochs: float = Field(default=_setting("default_epochs"), gt=0)
    max_steps: int | None = Field(default=None, ge=1, description="Overrides epochs when set.")
    warmup_steps: int = Field(default=0, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    lr_scheduler: Literal["linear", "cosine", "constant"] = "linear"
    gradient_checkpointing: bool = _setting("gradient_checkpointing")
    precision: Precision = Field(
        default="auto",
        description="auto: bf16 on GPUs that have it, else fp16 on GPU, fp32 on CPU.",
    )
    max_seq_length: int = Field(default=_setting("max_seq_length"), ge=8)
    seed: int = 42
    lora_r: int = Field(default=_setting("lora_r"), ge=1)
    lora_alpha: int = Field(default=_setting("lora_alpha"), ge=1)
    lora_dropout: float = Field(default=_setting("lora_dropout"), ge=0, lt=1)
    lora_target_modules: tuple[str, ...] = LORA_TARGET_MODULES
    quantization: Quantization = "none"
    allow_cpu: bool = Field(default=False, description="Let a quantized run proceed without CUDA.")
    log_every_steps: int = Field(default=5, ge=1, description="Progress and loss every N steps.")
    cpu_threads: int | None = Field(
        default=None,
        ge=1,
        description="torch CPU threads during the run (None: torch's default). On a busy host "
        "small models train many times faster on 1 thread than on threads that spin-wait.",
    )

    @field_validator("base_model")
    @classmethod
    def _trainable(cls, value: str) -> str:
        # Not a ValueError on purpose: pydantic lets it through, so callers get the
        # UnsupportedModelError itself rather than a generic validation failure.
        require_trainable(value)
        return value

    @classmethod
    def from_settings(cls, base_model: str, settings: Settings, **overrides: object) -> Self:
        """A config with the deployment's training defaults, then ``overrides`` on top."""
        values: dict[str, object] = {
            "base_model": base_model,
            "batch_size": settings.default_batch_size,
            "learning_rate": settings.default_learning_rate,
            "epochs": settings.default_epochs,
            "gradient_checkpointing": settings.gradient_checkpointing,
            "precision": "fp16" if settings.fp16_training else "auto",
            "max_seq_length": settings.max_seq_length,
            "lora_r": settings.lora_r,
            "lora_alpha": settings.lora_alpha,
            "lora_dropout": settings.lora_dropout,
        }
        return parse_config(cls, {**values, **overrides})


C = TypeVar("C", bound=TrainingConfig)


def parse_config(config_type: type[C], values: dict[str, object]) -> C:
    """Validate ``values``; bad options become a :class:`TrainingError` naming each field."""
    try:
        return config_type.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(map(_problem, exc.errors()))
        msg = f"invalid {config_type.__name__}: {problems}"
        raise TrainingError(msg) from exc


def _problem(error: ErrorDetails) -> str:
    """``field: message``, or the bare message of a rule on the whole config."""
    where = ".".join(map(str, error["loc"]))
    return f"{where}: {error['msg']}" if where else error["msg"]
