"""The registry against a real sqlite MLflow store with a local artifact folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tonebridge.errors import ConflictError, NotFoundError
from tonebridge.handlers.datasets.formats import Lineage
from tonebridge.handlers.methods.control import LoggedStep
from tonebridge.handlers.registry.store import (
    PRODUCTION,
    STAGING,
    Registry,
    flatten_params,
    metric_key,
)
from tonebridge.settings import load_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    data_dir = tmp_path_factory.mktemp("mlflow")
    return Registry.from_settings(load_settings(data_dir=data_dir, mlflow_tracking_uri=""))


def _adapter(folder: Path) -> Path:
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8}))
    (folder / "adapter_model.safetensors").write_bytes(b"\x00" * 16)
    return folder


def _registered(registry: Registry, tmp_path: Path, name: str) -> str:
    run_id = registry.start_run("sft", {"lr": 1e-3})
    source = registry.log_adapter(run_id, _adapter(tmp_path / f"a{run_id}"))
    registry.end_run(run_id)
    return registry.register_version(name, source, run_id).version


def test_flatten_params_dots_nested_keys() -> None:
    flat = flatten_params({"lora": {"r": 8, "alpha": 16}, "lr": 0.001, "name": "x"})
    assert flat == {"lora.r": "8", "lora.alpha": "16", "lr": "0.001", "name": "x"}


def test_run_logs_params_metrics_dataset_and_adapter(registry: Registry, tmp_path: Path) -> None:
    run_id = registry.start_run("sft-job", {"lora": {"r": 8}, "lr": 1e-3}, {"job_id": "j1"})
    registry.log_metrics(run_id, {"eval_loss": 1.25, "chrf": 40.0})
    data = tmp_path / "train.jsonl"
    data.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}\n')
    start = datetime(2025, 1, 1, tzinfo=UTC)
    registry.log_dataset(
        run_id, data, name="ds1", context="training", lineage=Lineage(start, start, 2)
    )
    source = registry.log_adapter(run_id, _adapter(tmp_path / "adapter"))
    registry.end_run(run_id)

    run = registry.client.get_run(run_id)
    assert run.data.params["lora.r"] == "8"
    assert run.data.metrics["eval_loss"] == 1.25
    assert run.info.status == "FINISHED"
    inputs = registry.run_inputs(run_id)
    tags = {t.key: t.value for t in inputs[0].tags}
    assert inputs[0].dataset.name == "ds1"
    assert tags["feedback_count"] == "2"
    assert tags["mlflow.data.context"] == "training"
    assert source.endswith("/adapter")
    listed = {a.path for a in registry.client.list_artifacts(run_id, "adapter")}
    assert listed == {"adapter/adapter_config.json", "adapter/adapter_model.safetensors"}
    local = registry.local_path(source)
    assert json.loads((local / "adapter_config.json").read_text()) == {"r": 8}
    assert local != tmp_path / "adapter"


def test_a_training_run_logs_each_step_then_its_final_metrics_at_the_last_step(
    registry: Registry,
) -> None:
    run_id = registry.start_run("sft-steps", {})
    history = [
        LoggedStep(step, 1_700_000_000_000 + step, {"loss": 3.0 - step / 10, "learning_rate": lr})
        for step, lr in ((1, 1e-3), (5, 8e-4), (10, 5e-4))
    ]
    history.append(LoggedStep(10, 1_700_000_000_100, {"rewards/tiny:model/mean": 0.5}))
    registry.log_training(run_id, history, {"loss": 2.0, "train_loss": 2.4, "chrf": 41.0})

    def steps(key: str) -> list[tuple[int, float]]:
        found = registry.client.get_metric_history(run_id, key)
        return sorted((m.step, m.value) for m in found)

    assert steps("loss") == [(1, 2.9), (5, 2.5), (10, 2.0)]  # the final loss repeats step 10's
    assert [step for step, _ in steps("learning_rate")] == [1, 5, 10]
    assert steps("train_loss") == [(10, 2.4)] and steps("chrf") == [(10, 41.0)]
    assert steps("rewards/tiny_model/mean") == [(10, 0.5)]
    stamps = {m.timestamp for m in registry.client.get_metric_history(run_id, "learning_rate")}
    assert stamps == {1_700_000_000_001, 1_700_000_000_005, 1_700_000_000_010}


def test_metric_keys_are_made_valid_for_mlflow() -> None:
    assert metric_key("rewards/model/mean") == "rewards/model/mean"
    assert metric_key("eval loss (x:y)") == "eval loss _x_y_"
    assert metric_key("a//b") == "a__b"
    assert metric_key("../up") == "___up"
    assert metric_key("") == "_"


def test_register_creates_a_version_on_the_adapter_and_marks_it_staging(
    registry: Registry, tmp_path: Path
) -> None:
    version = _registered(registry, tmp_path, "reg-staging")
    found = registry.get_version("reg-staging", version)
    assert found.source.endswith("/adapter")
    assert registry.alias_version("reg-staging", STAGING) == version
    assert registry.alias_version("reg-staging", PRODUCTION) is None


def test_deploy_then_rollback_moves_production_back(registry: Registry, tmp_path: Path) -> None:
    first = _registered(registry, tmp_path, "reg-roll")
    second = _registered(registry, tmp_path, "reg-roll")
    assert registry.deploy("reg-roll", first).previous is None
    move = registry.deploy("reg-roll", second)
    assert (move.version, move.previous) == (second, first)
    back = registry.rollback("reg-roll")
    assert (back.version, back.previous) == (first, second)
    assert registry.alias_version("reg-roll", PRODUCTION) == first
    assert registry.version_tags("reg-roll", second)["tonebridge.status"] == "rolled_back"
    with pytest.raises(ConflictError, match="no previous production"):
        registry.rollback("reg-roll")


def test_rollback_to_the_base_model_removes_the_alias(registry: Registry, tmp_path: Path) -> None:
    first = _registered(registry, tmp_path, "reg-base")
    registry.deploy("reg-base", first, previous="base")
    assert registry.previous_production("reg-base", first) == "base"
    back = registry.rollback("reg-base")
    assert (back.version, back.previous, back.source) == ("base", first, "")
    assert registry.alias_version("reg-base", PRODUCTION) is None
    assert registry.is_registered("reg-base", first)
    assert not registry.is_registered("reg-base", "base")


def test_archive_refuses_production_and_archived_cannot_deploy(
    registry: Registry, tmp_path: Path
) -> None:
    first = _registered(registry, tmp_path, "reg-arch")
    second = _registered(registry, tmp_path, "reg-arch")
    registry.deploy("reg-arch", first)
    with pytest.raises(ConflictError, match="in production"):
        registry.archive("reg-arch", first)
    registry.archive("reg-arch", second)
    assert registry.alias_version("reg-arch", STAGING) is None
    with pytest.raises(ConflictError, match="archived"):
        registry.deploy("reg-arch", second)


def test_unknown_version_is_not_found(registry: Registry) -> None:
    with pytest.raises(NotFoundError):
        registry.get_version("no-such-model", "1")
