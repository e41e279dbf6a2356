"""A run's trackers and hub access: W&B only with a key, the hub token on every load."""

from __future__ import annotations

import importlib.util
import os

import pytest
from pydantic import SecretStr

from tonebridge.errors import TrainingError
from tonebridge.handlers.methods.tracking import (
    NO_TRACKING,
    Tracking,
    hub_kwargs,
    report_arguments,
    require_wandb,
    run_environment,
    wandb_environment,
)
from tonebridge.settings import load_settings

WANDB_INSTALLED = importlib.util.find_spec("wandb") is not None
KEYED = Tracking(
    wandb_api_key=SecretStr("wandb-key"),
    wandb_project="tones",
    wandb_entity="team",
    run_name="sft-job1",
    huggingface_token=SecretStr("hf_token"),
)


def test_without_a_wandb_key_a_run_reports_nowhere_else() -> None:
    assert report_arguments(NO_TRACKING) == {"report_to": "none"}
    assert wandb_environment(NO_TRACKING) == {}
    unkeyed = Tracking(wandb_api_key=SecretStr(""), wandb_project="tones", run_name="r")
    assert report_arguments(unkeyed) == {"report_to": "none", "run_name": "r"}
    assert wandb_environment(unkeyed) == {}


def test_a_wandb_key_reports_to_wandb_with_its_project_entity_and_run_name() -> None:
    assert report_arguments(KEYED) == {"report_to": ["wandb"], "run_name": "sft-job1"}
    assert wandb_environment(KEYED) == {
        "WANDB_API_KEY": "wandb-key",
        "WANDB_PROJECT": "tones",
        "WANDB_ENTITY": "team",
        "WANDB_NAME": "sft-job1",
    }
    project_only = Tracking(wandb_api_key=SecretStr("k"))
    assert wandb_environment(project_only) == {"WANDB_API_KEY": "k"}


def test_tracking_comes_from_the_settings_and_never_shows_its_secrets() -> None:
    settings = load_settings(
        wandb_api_key="wandb-key", wandb_project="tones", huggingface_token="hf_token"
    )
    tracking = Tracking.from_settings(settings, run_name="rlhf-job2")
    assert tracking.uses_wandb and tracking.wandb_project == "tones"
    assert tracking.wandb_entity is None and tracking.run_name == "rlhf-job2"
    assert "wandb-key" not in repr(tracking) and "hf_token" not in repr(tracking)
    assert not Tracking.from_settings(load_settings()).uses_wandb


@pytest.mark.skipif(WANDB_INSTALLED, reason="wandb is installed here")
def test_a_wandb_key_without_wandb_installed_fails_with_how_to_fix_it() -> None:
    with pytest.raises(TrainingError, match=r"wandb package is not installed.*pip install wandb"):
        require_wandb(KEYED)
    before = dict(os.environ)
    with pytest.raises(TrainingError), run_environment(KEYED):
        pass
    assert dict(os.environ) == before


def test_a_run_without_wandb_leaves_the_environment_as_it_was() -> None:
    before = dict(os.environ)
    with run_environment(NO_TRACKING):
        assert dict(os.environ) == before
    assert dict(os.environ) == before


def test_every_hub_load_gets_the_token_when_one_is_set() -> None:
    assert hub_kwargs(SecretStr("hf_token")) == {"token": "hf_token"}
    assert hub_kwargs(None) == {}
    assert hub_kwargs(SecretStr("")) == {}
