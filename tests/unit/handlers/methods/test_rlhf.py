"""RLHF's online step: a KL penalty by default, and PPO's options under their GRPO/RLOO names."""

from __future__ import annotations

import pytest

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods import RLHFConfig, make_config
from tonebridge.handlers.methods.rlhf import PPO_ONLY
from tonebridge.settings import load_settings


def test_the_policy_is_held_to_the_base_model_by_a_kl_penalty_by_default() -> None:
    config = make_config("rlhf", "m", {"batch_size": 4}, settings=load_settings())
    assert isinstance(config, RLHFConfig)
    assert (config.kl_beta, config.clip_epsilon, config.num_iterations) == (0.1, 0.2, 1)


def test_ppo_options_become_their_grpo_and_rloo_counterparts() -> None:
    options = {
        "batch_size": 4,
        "kl_coef": 0.05,
        "cliprange": 0.1,
        "ppo_epochs": 2,
        "response_length": 32,
    }
    config = make_config("rlhf", "m", options, settings=load_settings())
    assert isinstance(config, RLHFConfig)
    assert (config.kl_beta, config.clip_epsilon, config.num_iterations) == (0.05, 0.1, 2)
    assert config.max_completion_length == 32
    assert "kl_coef" not in config.model_dump()


def test_an_option_given_under_both_names_is_refused() -> None:
    with pytest.raises(TrainingError, match="kl_coef is PPO's name for kl_beta"):
        make_config(
            "rlhf", "m", {"batch_size": 4, "kl_coef": 0.1, "kl_beta": 0.2}, settings=load_settings()
        )


@pytest.mark.parametrize("name", PPO_ONLY)
def test_ppo_options_without_a_counterpart_are_refused_with_the_reason(name: str) -> None:
    with pytest.raises(TrainingError, match=f"{name}: PPO options with no GRPO/RLOO counterpart"):
        make_config("rlhf", "m", {"batch_size": 4, name: 0.5}, settings=load_settings())


def test_the_clip_range_is_a_fraction() -> None:
    with pytest.raises(TrainingError, match="clip_epsilon"):
        make_config("rlhf", "m", {"batch_size": 4, "cliprange": 1.5}, settings=load_settings())
