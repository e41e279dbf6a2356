"""MLflow tracking and model registry, behind a small synchronous interface.

MLflow's client is synchronous: async callers run these methods with ``asyncio.to_thread``.
Everything goes through one :class:`MlflowClient` bound to the configured store, never the
fluent ``mlflow.*`` globals, so two registries (two tests, two stores) never share state.
``log_dataset`` records the same ``DatasetInput`` that ``mlflow.log_input`` would.
``log_training`` records what the trainer logged at each step with its step number (MLflow's
metric history), then the final metrics at the last step.

Versions are created with ``MlflowClient.create_model_version`` on the run's ``adapter``
artifact folder (``mlflow.register_model`` fails for a plain folder). Promotion uses aliases:
``staging`` marks the newest candidate, ``production`` the served version. Each deploy tags
the new production version with the version it replaced, so a rollback knows where to go
and the history survives in the registry.
"""

from __future__ import annotations

import json
import posixpath
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tonebridge.decisions.registry_rules import (
    check_archive,
    check_deploy,
    check_has_production,
    check_predecessor,
    of_version,
)
from tonebridge.errors import NotFoundError
from tonebridge.handlers.datasets.formats import Lineage
from tonebridge.handlers.methods.control import LoggedStep
from tonebridge.handlers.registry.artifacts import artifact_location, local_folder, use_object_store
from tonebridge.settings import Settings

PRODUCTION = "production"
STAGING = "staging"
ADAPTER_PATH = "adapter"
PREVIOUS_TAG = "tonebridge.previous_production"
STATUS_TAG = "tonebridge.status"
JOB_TAG = "job_id"  # the training job that registered a version
_MAX_PARAM_LEN = 6000
_BATCH = 100
# What MLflow accepts in a metric name on every platform (no colon: Windows refuses it).
_UNSAFE_METRIC_CHARS = re.compile(r"[^\w./\- ]")


@dataclass(frozen=True)
class RegisteredVersion:
    """One model version in the MLflow registry."""

    name: str
    version: str
    source: str
    run_id: str | None


@dataclass(frozen=True)
class AliasMove:
    """The result of a deploy or rollback: ``production`` went from one version to another."""

    name: str
    version: str
    previous: str | None
    source: str


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> dotted MLflow params (values as strings, cut to MLflow's limit)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            flat[name] = text[:_MAX_PARAM_LEN]
    return flat


def metric_key(name: str) -> str:
    """``name`` as a valid MLflow metric key: other characters become ``_``; a name MLflow
    would read as a path to another name (``a//b``, ``../x``) loses its slashes and dots."""
    key = _UNSAFE_METRIC_CHARS.sub("_", name)
    if posixpath.normpath(key) != key or key in ("", ".") or key.startswith(("/", "..")):
        key = key.replace("/", "_").replace(".", "_")
    return key or "_"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _local_source(path: Path) -> Any:
    """A local-file dataset source, built directly.

    Resolving a plain path warns in MLflow 3: the "" and "file" schemes both register a
    ``LocalArtifactDatasetSource``, so resolution finds two matches.
    """
    source_json = json.dumps({"uri": path.resolve().as_uri()})
    return get_dataset_source_from_json(source_json, source_type="local")


class Registry:
    """Runs, dataset lineage, versions and aliases in one MLflow store."""

    def __init__(
        self, tracking_uri: str, experiment_name: str, artifact_location: str | None = None
    ) -> None:
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.artifact_location = artifact_location
        self._experiment_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        """The configured store and artifact store (the local default: under ``data_dir``)."""
        use_object_store(settings)
        location = artifact_location(settings)
        return cls(settings.mlflow_uri, settings.mlflow_experiment_name, location)

    # --- runs -------------------------------------------------------------------------

    def experiment_id(self) -> str:
        if self._experiment_id is None:
            found = self.client.get_experiment_by_name(self.experiment_name)
            if found is not None:
                self._experiment_id = str(found.experiment_id)
            else:
                self._experiment_id = self.client.create_experiment(
                    self.experiment_name, artifact_location=self.artifact_location
                )
        return self._experiment_id

    def start_run(
        self, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str] | None = None
    ) -> str:
        """Open a run with its params; returns the run id."""
        run = self.client.create_run(self.experiment_id(), run_name=run_name, tags=dict(tags or {}))
        items = [Param(k, v) for k, v in flatten_params(params).items()]
        for start in range(0, len(items), _BATCH):
            self.client.log_batch(run.info.run_id, params=items[start : start + _BATCH])
        return str(run.info.run_id)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        now = _now_ms()
        self._log_batches(
            run_id, [Metric(metric_key(k), float(v), now, step) for k, v in metrics.items()]
        )

    def log_training(
        self, run_id: str, history: Sequence[LoggedStep], final: Mapping[str, float]
    ) -> None:
        """Every logged step's values at its step, then ``final`` at the last logged step
        (for RLHF, the policy's: the reward model's steps come first).

        A final value that only repeats its key's last logged value is not logged again, so
        each key's history has one point per step (its latest is still the final value).
        """
        stepped = [
            Metric(metric_key(key), float(value), entry.timestamp_ms, entry.step)
            for entry in history
            for key, value in entry.values.items()
        ]
        latest = {m.key: m.value for m in stepped}
        last_step, now = (history[-1].step if history else 0), _now_ms()
        closing = [
            Metric(key, float(value), now, last_step)
            for key, value in ((metric_key(k), v) for k, v in final.items())
            if latest.get(key) != float(value)
        ]
        self._log_batches(run_id, stepped + closing)

    def _log_batches(self, run_id: str, metrics: Iterable[Metric]) -> None:
        items = list(metrics)
        for start in range(0, len(items), _BATCH):
            self.client.log_batch(run_id, metrics=items[start : start + _BATCH])

    def log_dataset(
        self, run_id: str, path: Path, *, name: str, context: str, lineage: Lineage
    ) -> None:
        """Record a jsonl dataset file as a run input, tagged with its feedback range."""
        frame = pd.read_json(path, lines=True)
        dataset = from_pandas(frame, source=_local_source(path), name=name)
        tags = [InputTag(k, v) for k, v in lineage.tags().items()]
        tags.append(InputTag("mlflow.data.context", context))
        entry = DatasetInput(dataset=dataset._to_mlflow_entity(), tags=tags)
        self.client.log_inputs(run_id, datasets=[entry])

    def log_adapter(self, run_id: str, folder: Path) -> str:
        """Upload the adapter folder; returns its artifact URI (the version's source)."""
        self.client.log_artifacts(run_id, str(folder), artifact_path=ADAPTER_PATH)
        run = self.client.get_run(run_id)
        return f"{run.info.artifact_uri.rstrip('/')}/{ADAPTER_PATH}"

    def local_path(self, source: str, dst: Path | None = None) -> Path:
        """A local folder holding the artifacts at ``source`` (downloaded unless local)."""
        return local_folder(source, self.tracking_uri, dst)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        """Close the run: FINISHED, FAILED or KILLED."""
        self.client.set_terminated(
            run_id, status=RunStatus.to_string(RunStatus.from_string(status))
        )

    def run_inputs(self, run_id: str) -> list[DatasetInput]:
        inputs = self.client.get_run(run_id).inputs
        return list(inputs.dataset_inputs) if inputs is not None else []

    # --- versions and aliases ---------------------------------------------------------

    def register_version(
        self,
        name: str,
        source: str,
        run_id: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredVersion:
        """Create ``name`` if new and a version on ``source``; it becomes ``staging``."""
        self._ensure_registered_model(name)
        version = self.client.create_model_version(
            name, source=source, run_id=run_id, tags=dict(tags or {}), description=description
        )
        self.client.set_registered_model_alias(name, STAGING, str(version.version))
        return RegisteredVersion(name, str(version.version), source, run_id)

    def job_version(self, name: str, job_id: str) -> RegisteredVersion | None:
        """The version of ``name`` a training job registered (its ``job_id`` tag), if any."""
        quoted = name.replace("'", "\\'")
        for found in self.client.search_model_versions(f"name = '{quoted}'"):
            if found.tags.get(JOB_TAG) == job_id:
                return RegisteredVersion(name, str(found.version), str(found.source), found.run_id)
        return None

    def delete_version(self, name: str, version: str) -> None:
        """Remove a version that never completed registration (no models row points at it)."""
        try:
            self.client.delete_model_version(name, version)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise

    def _ensure_registered_model(self, name: str) -> None:
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)

    def get_version(self, name: str, version: str) -> RegisteredVersion:
        try:
            found = self.client.get_model_version(name, version)
        except MlflowException as exc:
            msg = f"no MLflow version {name!r} v{version}"
            raise NotFoundError(msg) from exc
        return RegisteredVersion(name, str(found.version), str(found.source), found.run_id)

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version ``alias`` points at, or None."""
        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(name, version).tags)

    def deploy(self, name: str, version: str, previous: str | None = None) -> AliasMove:
        """Point ``production`` at ``version``; remember what it replaced.

        ``previous`` overrides the remembered predecessor (a caller with its own history).
        """
        target = self.check_deployable(name, version)
        current = self.alias_version(name, PRODUCTION)
        before = previous if previous is not None else current
        if before is not None and before != version:
            self.client.set_model_version_tag(name, version, PREVIOUS_TAG, before)
        self.client.set_registered_model_alias(name, PRODUCTION, version)
        self.client.set_model_version_tag(name, version, STATUS_TAG, "production")
        return AliasMove(name, version, current, target.source)

    def check_deployable(self, name: str, version: str) -> RegisteredVersion:
        """The version, unless it is unknown (NotFoundError) or archived (ConflictError)."""
        found = self.get_version(name, version)
        status = self.version_tags(name, version).get(STATUS_TAG)
        check_deploy(of_version(name, version, status), again=True)  # deploys repeat safely
        return found

    def previous_production(self, name: str, version: str) -> str | None:
        """The version ``version`` replaced in production (``base``: the untrained model)."""
        return self.version_tags(name, version).get(PREVIOUS_TAG)

    def is_registered(self, name: str, version: str) -> bool:
        if not version.isdigit():
            return False
        try:
            self.client.get_model_version(name, version)
        except MlflowException:
            return False
        return True

    def rollback(self, name: str, to_version: str | None = None) -> AliasMove:
        """Move ``production`` back to the version it replaced (or to ``to_version``).

        A target that is not a registered version (``base``) means the base model serves
        again: the alias is removed.
        """
        current = check_has_production(name, self.alias_version(name, PRODUCTION))
        found = to_version or self.previous_production(name, current)
        target = check_predecessor(f"{name} v{current}", found or None)
        self.client.set_model_version_tag(name, current, STATUS_TAG, "rolled_back")
        if not self.is_registered(name, target):
            self.client.delete_registered_model_alias(name, PRODUCTION)
            return AliasMove(name, target, current, "")
        self.client.set_registered_model_alias(name, PRODUCTION, target)
        self.client.set_model_version_tag(name, target, STATUS_TAG, "production")
        return AliasMove(name, target, current, self.get_version(name, target).source)

    def archive(self, name: str, version: str) -> RegisteredVersion:
        """Tag ``version`` archived and drop its ``staging`` alias; production cannot be."""
        found = self.get_version(name, version)
        serving = self.alias_version(name, PRODUCTION) == version
        check_archive(of_version(name, version, PRODUCTION if serving else None))
        if self.alias_version(name, STAGING) == version:
            self.client.delete_registered_model_alias(name, STAGING)
        self.client.set_model_version_tag(name, version, STATUS_TAG, "archived")
        return found
