from __future__ import annotations

from pathlib import Path

import pytest

from tonebridge.errors import TrainingError, UnsupportedModelError
from tonebridge.handlers.methods import (
    DPOConfig,
    KTOConfig,
    RLHFConfig,
    SFTConfig,
    TrainingConfig,
    make_config,
)
from tonebridge.settings import Settings, load_settings


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4",
        "gpt-4o-mini",
        "gpt-3.5-turbo",
        "claude-3-5-sonnet",
        "gemini-1.5-pro",
        "openai/gpt-4",
    ],
)
def test_api_only_models_cannot_be_fine_tuned(name: str) -> None:
    with pytest.raises(UnsupportedModelError, match=f"{name} is an API-only model"):
        SFTConfig(base_model=name)


@pytest.mark.parametrize(
    "name", ["meta-llama/Llama-3.2-1B", "./models/tiny", "gpt2", "Qwen/Qwen2.5-0.5B"]
)
def test_open_weight_models_are_accepted(name: str) -> None:
    assert SFTConfig(base_model=name).base_model == name


def test_declared_defaults_follow_the_settings_class() -> None:
    config = TrainingConfig(base_model="m")
    defaults = Settings.model_fields
    assert config.batch_size == defaults["default_batch_size"].default
    assert config.learning_rate == defaults["default_learning_rate"].default
    assert config.lora_r == defaults["lora_r"].default
    assert config.lora_target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")


def test_from_settings_takes_the_deployment_values_then_overrides() -> None:
    settings = load_settings(
        default_batch_size=16, lora_r=4, fp16_training=True, max_seq_length=128
    )
    config = DPOConfig.from_settings("m", settings, lora_r=2, beta=0.3)
    assert (config.batch_size, config.lora_r, config.beta) == (16, 2, 0.3)
    assert (config.precision, config.max_seq_length) == ("fp16", 128)


def test_make_config_picks_the_method_and_qlora_defaults_to_4bit() -> None:
    settings = load_settings()
    assert type(make_config("kto", "m", settings=settings)) is KTOConfig
    qlora = make_config("qlora", "m", {"allow_cpu": True}, settings=settings)
    assert isinstance(qlora, SFTConfig)
    assert (qlora.quantization, qlora.allow_cpu) == ("4bit", True)
    eight = make_config("qlora", "m", {"quantization": "8bit"}, settings=settings)
    assert eight.quantization == "8bit"


def test_bad_options_name_the_field() -> None:
    with pytest.raises(TrainingError, match="learning_rate"):
        make_config("sft", "m", {"learning_rate": -1}, settings=load_settings())
    with pytest.raises(TrainingError, match="no_such_option"):
        make_config("dpo", "m", {"no_such_option": 1}, settings=load_settings())
    with pytest.raises(TrainingError, match="unknown training kind 'ppo'"):
        make_config("ppo", "m", settings=load_settings())


def test_kto_needs_two_rows_per_batch() -> None:
    with pytest.raises(TrainingError, match="batch_size"):
        make_config("kto", "m", {"batch_size": 1}, settings=load_settings())


def test_rlhf_batches_hold_whole_groups_of_generations() -> None:
    with pytest.raises(TrainingError, match="multiple of num_generations"):
        make_config("rlhf", "m", {"batch_size": 6, "num_generations": 4}, settings=load_settings())
    config = RLHFConfig(base_model="m", batch_size=8, num_generations=4, reward_epochs=2)
    phase = config.reward_phase()
    assert (phase.epochs, phase.learning_rate, phase.base_model) == (2, config.learning_rate, "m")


def test_a_local_directory_is_trainable_whatever_its_name(tmp_path: Path) -> None:
    local = tmp_path / "gpt-4-distilled"
    local.mkdir()
    assert SFTConfig(base_model=str(local)).base_model == str(local)
