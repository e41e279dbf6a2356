"""Base models, tokenizers, precision, quantization and LoRA settings for every runner.

Heavy module (torch, transformers, peft): imported only by the runners, inside their
functions, so that importing :mod:`tonebridge.handlers.methods` stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from peft import LoraConfig, PeftModel, TaskType, prepare_model_for_kbit_training
from pydantic import SecretStr
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BitsAndBytesConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from tonebridge.errors import TrainingError, UnsupportedModelError
from tonebridge.handlers.methods.config import Precision, TrainingConfig, require_trainable
from tonebridge.handlers.methods.tracking import hub_kwargs

MixedPrecision = Literal["fp32", "fp16", "bf16"]


@dataclass(frozen=True, slots=True)
class Hardware:
    """``index``: the CUDA device of this process (one per process in a distributed run)."""

    cuda: bool
    bf16: bool
    index: int = 0

    @property
    def device(self) -> str:
        return f"cuda:{self.index}" if self.cuda else "cpu"


def detect_hardware() -> Hardware:
    """This process's hardware; on CUDA its current device, which a rank sets to its own."""
    cuda = torch.cuda.is_available()
    index = torch.cuda.current_device() if cuda else 0
    return Hardware(cuda=cuda, bf16=cuda and torch.cuda.is_bf16_supported(), index=index)


def mixed_precision(precision: Precision, hardware: Hardware) -> MixedPrecision:
    """Half precision only where the GPU supports it; a CPU always trains in fp32."""
    if not hardware.cuda:
        return "fp32"
    if precision == "auto":
        return "bf16" if hardware.bf16 else "fp16"
    if precision == "bf16" and not hardware.bf16:
        return "fp16"
    return precision


def _half_dtype(mode: MixedPrecision) -> torch.dtype:
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[mode]


def quantization_config(config: TrainingConfig, hardware: Hardware) -> BitsAndBytesConfig | None:
    """bitsandbytes NF4 (QLoRA) or 8-bit; refused without CUDA unless ``allow_cpu``."""
    if config.quantization == "none":
        return None
    if not hardware.cuda and not config.allow_cpu:
        msg = (
            f"{config.quantization} quantization (QLoRA) needs a CUDA GPU and none is available; "
            "use quantization='none' for plain LoRA, or allow_cpu=True to try it on the CPU"
        )
        raise UnsupportedModelError(msg)
    if config.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)  # type: ignore[no-untyped-call]
    compute = torch.bfloat16 if hardware.bf16 or not hardware.cuda else torch.float16
    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )


def load_tokenizer(base_model: str, *, token: SecretStr | None = None) -> PreTrainedTokenizerBase:
    """The base model's tokenizer, padding with EOS when it has no pad token.

    ``token``: the Hugging Face token for gated or private hub models (see :func:`hub_kwargs`).
    """
    require_trainable(base_model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model, **hub_kwargs(token))
    except (OSError, ValueError) as exc:
        msg = f"cannot load the tokenizer of {base_model}: {exc}"
        raise TrainingError(msg) from exc
    if tokenizer.eos_token is None:
        msg = f"the tokenizer of {base_model} has no EOS token; completions could never end"
        raise TrainingError(msg)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(
    config: TrainingConfig, hardware: Hardware, *, token: SecretStr | None = None
) -> PreTrainedModel:
    """The base model to put a LoRA adapter on (quantized and prepared for QLoRA if asked)."""
    quantization = quantization_config(config, hardware)
    model = _from_pretrained(AutoModelForCausalLM, config, hardware, quantization, token=token)
    if quantization is not None:
        model = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            model,
            use_gradient_checkpointing=config.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    return model


def load_sequence_scorer(
    config: TrainingConfig,
    hardware: Hardware,
    *,
    lora: bool,
    pad_token_id: int,
    token: SecretStr | None = None,
) -> PreTrainedModel:
    """The base model with a one-output classification head, for a reward model."""
    model = _from_pretrained(
        AutoModelForSequenceClassification, config, hardware, None,
        num_labels=1, lora=lora, token=token,
    )  # fmt: skip
    # The head pools the last token that is not padding: it must know which id pads.
    model.config.pad_token_id = pad_token_id
    return model


def _from_pretrained(
    auto: type[AutoModelForCausalLM] | type[AutoModelForSequenceClassification],
    config: TrainingConfig,
    hardware: Hardware,
    quantization: BitsAndBytesConfig | None,
    *,
    lora: bool = True,
    token: SecretStr | None = None,
    **kwargs: object,
) -> PreTrainedModel:
    mode = mixed_precision(config.precision, hardware)
    # Frozen base weights can live in half precision; fully trained ones stay fp32 for AMP.
    dtype = _half_dtype(mode) if lora else torch.float32
    kwargs.update(hub_kwargs(token))
    if quantization is not None:
        kwargs.update(quantization_config=quantization, device_map={"": hardware.device})
    try:
        model: PreTrainedModel = auto.from_pretrained(config.base_model, dtype=dtype, **kwargs)
    except (OSError, ValueError) as exc:
        msg = f"cannot load base model {config.base_model}: {exc}"
        raise TrainingError(msg) from exc
    return model


def lora_config(config: TrainingConfig, task_type: TaskType = TaskType.CAUSAL_LM) -> LoraConfig:
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        bias="none",
        task_type=task_type,
    )


def trainable_adapter(
    model: PreTrainedModel, config: TrainingConfig, start: Path | None
) -> tuple[Any, LoraConfig | None]:
    """What trl trains: ``model`` and a fresh LoRA config, or ``model`` with the saved adapter
    ``start`` loaded trainable (and no config: the adapter brings its own rank and targets)."""
    if start is None:
        return model, lora_config(config)
    try:
        continued = PeftModel.from_pretrained(model, str(start), is_trainable=True)
    except (OSError, ValueError, KeyError) as exc:
        msg = f"cannot continue the adapter in {start}: {exc}"
        raise TrainingError(msg) from exc
    return continued, None
