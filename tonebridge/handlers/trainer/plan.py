"""From a TrainingCommand to what a job will do: base model, registered name, options.

``config_json`` holds the runner's hyperparameters (``TrainingConfig`` fields) plus a few
keys the trainer itself reads, listed in :data:`TRAINER_KEYS`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tonebridge.avro.codec import Record
from tonebridge.decisions.continual import StartFrom, replay_fraction, start_from
from tonebridge.errors import InvalidEventError, TrainingError
from tonebridge.handlers.datasets.formats import DatasetFormat, Limits
from tonebridge.handlers.evaluation import EvalConfig
from tonebridge.handlers.methods.config import require_trainable
from tonebridge.handlers.methods.registry import dataset_format
from tonebridge.storage import ModelRepository
from tonebridge.storage.records import ModelRecord, TrainingJobRecord
from tonebridge.topics.training import job_id_for

TRAINER_KEYS = {
    "registered_model_name": "MLflow registered model name (default <model_type>-<base>)",
    "validation_fraction": "share of distinct inputs held out (default 0.1)",
    "max_chars": "rows with a longer text are dropped (default 2000)",
    "eval_max_examples": "held-out rows evaluated (default 256)",
    "eval_max_new_tokens": "length of generated rewrites (default 48)",
    "bootstrap_samples": "paired bootstrap resamples (default 1000)",
    "start_from": "parent (default: continue the parent's adapter) or base (a fresh adapter)",
    "replay_fraction": "share of older feedback replayed (default: the REPLAY_FRACTION setting)",
}
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Plan:
    """One job, resolved: everything the run, the evaluation and the registration need."""

    job: TrainingJobRecord
    command_id: str
    kind: str
    base_model: str
    name: str
    model_type: str
    parent: ModelRecord | None
    baseline: ModelRecord | None
    options: dict[str, Any]
    limits: Limits
    eval_config: EvalConfig
    start_from: StartFrom = "parent"
    replay_fraction: float | None = None  # None: the deployment's setting

    @property
    def format(self) -> DatasetFormat:
        return dataset_format(self.kind)


def parse_config(config_json: str) -> dict[str, Any]:
    """The command's options; InvalidEventError unless a JSON object."""
    try:
        config = json.loads(config_json or "{}")
    except json.JSONDecodeError as exc:
        msg = f"config_json is not JSON: {exc}"
        raise InvalidEventError(msg) from exc
    if not isinstance(config, dict):
        msg = "config_json must be a JSON object"
        raise InvalidEventError(msg)
    return config


def split_options(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(runner options, trainer options)."""
    runner = {k: v for k, v in config.items() if k not in TRAINER_KEYS}
    trainer = {k: v for k, v in config.items() if k in TRAINER_KEYS}
    return runner, trainer


def default_name(model_type: str, base_model: str) -> str:
    """``tone_adjustment-tiny-llama`` for base ``.../tiny-llama``: one name per base."""
    base = base_model.rstrip("/").rsplit("/", 1)[-1]
    return _NAME_CHARS.sub("-", f"{model_type}-{base}").strip("-")


def _limits(options: dict[str, Any]) -> Limits:
    defaults = Limits()
    return Limits(
        max_chars=int(options.get("max_chars", defaults.max_chars)),
        validation_fraction=float(options.get("validation_fraction", defaults.validation_fraction)),
    )


def _continual(options: dict[str, Any]) -> tuple[StartFrom, float | None]:
    """``start_from`` and ``replay_fraction``; TrainingError naming a bad one."""
    share = options.get("replay_fraction")
    try:
        return start_from(options.get("start_from")), None if share is None else replay_fraction(
            share
        )
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc


def _eval_config(options: dict[str, Any]) -> EvalConfig:
    defaults = EvalConfig()
    return EvalConfig(
        max_examples=int(options.get("eval_max_examples", defaults.max_examples)),
        max_new_tokens=int(options.get("eval_max_new_tokens", defaults.max_new_tokens)),
        bootstrap_samples=int(options.get("bootstrap_samples", defaults.bootstrap_samples)),
    )


async def make_plan(models: ModelRepository, job: TrainingJobRecord, command: Record) -> Plan:
    """Resolve a command; UnsupportedModelError for API-only bases, TrainingError otherwise."""
    runner, trainer = split_options(parse_config(command.get("config_json") or "{}"))
    parent = await models.get(command["model_id"]) if command.get("model_id") else None
    baseline_id = command.get("baseline_model_id")
    baseline = await models.get(baseline_id) if baseline_id else None
    base_model = command.get("base_model") or (parent.base_model if parent else None)
    if not base_model:
        msg = f"{command['kind']} needs base_model or model_id"
        raise TrainingError(msg)
    require_trainable(base_model)
    model_type = command.get("model_type") or "tone_adjustment"
    name = trainer.get("registered_model_name") or (
        parent.name if parent else default_name(model_type, base_model)
    )
    if command["kind"] != "evaluate" and parent is None:
        parent = await models.ensure_base(name, base_model, model_type)
    if command["kind"] == "evaluate" and parent is None:
        msg = "evaluate needs model_id: the model to evaluate"
        raise TrainingError(msg)
    start, share = _continual(trainer)
    return Plan(
        job=job,
        command_id=command["command_id"],
        kind=command["kind"],
        base_model=base_model,
        name=str(name),
        model_type=model_type,
        parent=parent,
        baseline=baseline or (parent if command["kind"] != "evaluate" else None),
        options=runner,
        limits=_limits(trainer),
        eval_config=_eval_config(trainer),
        start_from=start,
        replay_fraction=share,
    )


def job_values(command: Record) -> dict[str, Any]:
    """The job row's fields from a TrainingCommand."""
    return {
        "job_id": job_id_for(command),
        "command_id": command["command_id"],
        "kind": command["kind"],
        "base_model": command.get("base_model"),
        "model_type": command.get("model_type") or "tone_adjustment",
        "dataset_id": command.get("dataset_id"),
        "parent_model_id": command.get("model_id"),
        "requested_by": command.get("requested_by"),
    }
