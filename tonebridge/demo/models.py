"""The models the demo serves: the tiny base model, built once and cached, and what the loop
trains on top of it (LoRA adapters stored in MLflow).

Heavy work (building, loading, generating) is synchronous: callers run it in a thread.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sacrebleu.metrics.chrf import CHRF

from tonebridge.settings import Settings
from tonebridge.storage.records import ModelRecord

MODEL_NAME = "tonebridge-demo-tone"
MODEL_TYPE = "tone_adjustment"
BASE_DIR = "tiny-llama"


@dataclass(frozen=True)
class ModelSource:
    """How to load a model: the base weights, and the adapter on top (none for the base)."""

    base_model: str
    adapter: str | None = None  # artifact URI of a registered adapter


def quiet_transformers() -> None:
    """No progress bars or chatter from transformers on the demo's screen."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def build_base(cache_dir: Path) -> Path:
    """The tiny base model under ``cache_dir`` (built on first use, ~30 s; reused after)."""
    from tonebridge.handlers.methods.tiny import build_model

    quiet_transformers()
    return build_model(cache_dir / BASE_DIR)


def source_of(registered: Mapping[str, Any]) -> ModelSource:
    """Where a ModelRegistered event says its model lives."""
    return ModelSource(str(registered["base_model"]), str(registered["artifact_uri"]))


class Generator:
    """Loads models once and writes greedy rewrites with them, one call at a time."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loaded: dict[ModelSource, Any] = {}
        self._lock = threading.Lock()  # callers are worker threads (asyncio.to_thread)

    def rewrites(self, source: ModelSource, requests: Sequence[tuple[str, str]]) -> list[str]:
        from tonebridge.handlers.methods.inference import generate_rewrites

        with self._lock:
            return generate_rewrites(self._load(source), requests, batch_size=32)

    def _load(self, source: ModelSource) -> Any:
        if source not in self._loaded:
            import torch

            from tonebridge.handlers.methods.inference import load_for_inference

            torch.set_num_threads(1)  # the trainer needs the cores more than the app
            quiet_transformers()
            self._loaded[source] = load_for_inference(source.base_model, self._adapter(source))
        return self._loaded[source]

    def _adapter(self, source: ModelSource) -> Path | None:
        if source.adapter is None:
            return None
        from tonebridge.handlers.registry.store import Registry

        return Registry.from_settings(self._settings).local_path(source.adapter)


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    return float(CHRF().corpus_score(list(hypotheses), [list(references)]).score)


async def register_base(settings: Settings, model_dir: Path) -> tuple[ModelRecord, ModelRecord]:
    """The base model's ``models`` row (production unless the name already has a production
    version: a kept data dir), and the production model's."""
    from tonebridge.storage import Database, ModelRepository

    async with Database.from_settings(settings) as database:
        models = ModelRepository(database)
        base = await models.ensure_base(MODEL_NAME, str(model_dir), MODEL_TYPE, path=str(model_dir))
        return base, await models.get_production(MODEL_NAME) or base


def source_of_record(model: ModelRecord) -> ModelSource:
    """Where a ``models`` row's weights are: a trained version's adapter is an MLflow artifact,
    a registered external adapter a local folder."""
    return ModelSource(model.base_model, model.adapter)


def init_tracking(settings: Settings) -> None:
    """Create the MLflow store and experiment before the trainer starts using them."""
    from tonebridge.handlers.registry.store import Registry

    # MLflow prints its own log lines to stderr: send them to the demo's log file instead
    mlflow_log = logging.getLogger("mlflow")
    mlflow_log.handlers.clear()
    mlflow_log.propagate = True
    Registry.from_settings(settings).experiment_id()


def log_base_run(settings: Settings, model: ModelRecord, held_out_chrf: float) -> str:
    """An MLflow run that records the base model (its build and held-out chrF); its id.

    The base gets no registry version: the registry's production alias marks trained
    versions only, and its absence means the base serves (see handlers.deployment).
    """
    from tonebridge.handlers.methods.tiny import TINY
    from tonebridge.handlers.registry.store import Registry

    registry = Registry.from_settings(settings)
    params = {"base_model": model.base_model, **dataclasses.asdict(TINY)}
    tags = {"tonebridge.model_id": model.id, "tonebridge.role": "base"}
    run_id = registry.start_run(f"base-{MODEL_NAME}", params, tags)
    registry.log_metrics(run_id, {"demo_held_out_chrf": held_out_chrf})
    registry.end_run(run_id)
    return run_id
