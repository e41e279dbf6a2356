"""Where a run reports besides MLflow, and how it reaches the Hugging Face hub.

Light module (no torch): the trainer builds a :class:`Tracking` from the settings and hands
it to the run; the runners turn it into trainer arguments (:func:`report_arguments`), the
run's environment (:func:`run_environment`) and ``from_pretrained`` keywords
(:func:`hub_kwargs`).

Weights & Biases is used only when ``WANDB_API_KEY`` is set. It is not a dependency of
tonebridge: a run asked to report there without ``wandb`` installed fails with the reason.
transformers' ``WandbCallback`` and ``wandb`` itself read their project, entity and key from
the environment, hence :func:`run_environment`, which sets them for the run and restores
the previous values afterwards (runs in one process are serialised by dispatch's lock).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import SecretStr

from tonebridge.errors import TrainingError
from tonebridge.settings import Settings

WANDB = "wandb"


@dataclass(frozen=True, slots=True)
class Tracking:
    """One run's experiment trackers and hub access; secrets stay ``SecretStr`` (never logged)."""

    wandb_api_key: SecretStr | None = None
    wandb_project: str | None = None
    wandb_entity: str | None = None
    run_name: str | None = None
    huggingface_token: SecretStr | None = None

    @classmethod
    def from_settings(cls, settings: Settings, run_name: str | None = None) -> Tracking:
        return cls(
            wandb_api_key=settings.wandb_api_key,
            wandb_project=settings.wandb_project,
            wandb_entity=settings.wandb_entity,
            run_name=run_name,
            huggingface_token=settings.huggingface_token,
        )

    @property
    def uses_wandb(self) -> bool:
        return bool(self.wandb_api_key and self.wandb_api_key.get_secret_value())


NO_TRACKING = Tracking()


def report_arguments(tracking: Tracking) -> dict[str, object]:
    """transformers' ``report_to`` (and ``run_name``): W&B when its key is set, else nothing."""
    arguments: dict[str, object] = {"report_to": [WANDB] if tracking.uses_wandb else "none"}
    if tracking.run_name:
        arguments["run_name"] = tracking.run_name
    return arguments


def wandb_environment(tracking: Tracking) -> dict[str, str]:
    """The ``WANDB_*`` variables of a run that reports to W&B; empty when it does not."""
    if not tracking.uses_wandb or tracking.wandb_api_key is None:
        return {}
    values = {
        "WANDB_API_KEY": tracking.wandb_api_key.get_secret_value(),
        "WANDB_PROJECT": tracking.wandb_project,
        "WANDB_ENTITY": tracking.wandb_entity,
        "WANDB_NAME": tracking.run_name,
    }
    return {name: value for name, value in values.items() if value}


def require_wandb(tracking: Tracking) -> None:
    """A run that must report to W&B cannot start without the ``wandb`` package."""
    if tracking.uses_wandb and importlib.util.find_spec(WANDB) is None:
        msg = (
            "WANDB_API_KEY is set but the wandb package is not installed: "
            "install it (pip install wandb) or unset WANDB_API_KEY"
        )
        raise TrainingError(msg)


@contextmanager
def run_environment(tracking: Tracking) -> Iterator[None]:
    """The run's ``WANDB_*`` environment, set for the run and restored after it."""
    require_wandb(tracking)
    with _environment(wandb_environment(tracking)):
        yield


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def hub_kwargs(token: SecretStr | None) -> dict[str, str]:
    """What every ``from_pretrained`` gets: the Hugging Face token, when one is set."""
    if token is None or not token.get_secret_value():
        return {}
    return {"token": token.get_secret_value()}
