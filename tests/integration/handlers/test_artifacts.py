"""Adapters in object storage: the registry uploads to a local S3-compatible server (moto),
registers and deploys the version, and the example inference service downloads and serves it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.inference_service import load_adapter
from tests.support.object_store import ACCESS_KEY, REGION, SECRET_KEY, S3Server, s3_server
from tonebridge.client.watch import ModelEvent
from tonebridge.handlers.registry.artifacts import artifact_location, local_copy
from tonebridge.handlers.registry.store import ADAPTER_PATH, Registry
from tonebridge.settings import Settings, load_settings
from tonebridge.topics.models import MODEL_CHANGED

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BUCKET = "tonebridge-artifacts"
TEXT, TONE = "send it asap", "formal"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        server.client().create_bucket(Bucket=BUCKET)
        yield server


@pytest.fixture
def settings(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The local tracking store, its artifacts in the bucket; the variables the registry
    exports for boto3 are put back afterwards."""
    configured = load_settings(
        data_dir=tmp_path, mlflow_tracking_uri="",
        mlflow_artifact_uri=f"s3://{BUCKET}/{tmp_path.name}",
        mlflow_s3_endpoint_url=s3.endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, aws_default_region=REGION,
    )  # fmt: skip
    for name in configured.object_store_environment():
        monkeypatch.setenv(name, os.environ.get(name, "unset"))
    return configured


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny base, and an adapter whose random B matrices visibly change the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tonebridge.handlers.methods.inference import generate_rewrites, load_for_inference
    from tonebridge.handlers.methods.tiny import ModelSpec, build_model

    root = tmp_path_factory.mktemp("models")
    base = build_model(root / "base", ModelSpec(pretrain_steps=0))
    torch.manual_seed(3)
    config = LoraConfig(
        r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), config)
    model.save_pretrained(root / "adapter")
    [plain] = generate_rewrites(load_for_inference(base), [(TEXT, TONE)])
    [adapted] = generate_rewrites(load_for_inference(base, root / "adapter"), [(TEXT, TONE)])
    assert plain != adapted, "the adapter must be told apart by its output"
    return {"base": base, "adapter": root / "adapter", "expected": adapted}


def test_the_artifact_uri_setting_is_where_new_experiments_keep_artifacts(
    tmp_path: Path,
) -> None:
    local = load_settings(data_dir=tmp_path, mlflow_tracking_uri="")
    assert artifact_location(local) == (tmp_path / "mlartifacts").resolve().as_uri()
    remote = load_settings(mlflow_tracking_uri="http://mlflow:5000")
    assert artifact_location(remote) is None  # the tracking server's default
    chosen = load_settings(mlflow_tracking_uri="http://mlflow:5000", mlflow_artifact_uri="s3://b/p")
    assert artifact_location(chosen) == "s3://b/p"


def _registered(registry: Registry, adapter: Path) -> tuple[str, str]:
    run_id = registry.start_run("sft-s3", {"lora": {"r": 4}})
    source = registry.log_adapter(run_id, adapter)
    registry.end_run(run_id)
    version = registry.register_version("tone-s3", source, run_id).version
    registry.deploy("tone-s3", version)
    return source, version


def _deployed(name: str, version: str, source: str, base: Path) -> ModelEvent:
    record = {"model_id": f"{name}:{version}", "name": name, "version": version,
              "change": "deployed", "alias": "production", "artifact_uri": source,
              "base_model": str(base)}  # fmt: skip
    return ModelEvent(MODEL_CHANGED, record, partition=0, offset=0, position={})


def test_an_adapter_in_s3_is_registered_then_served_by_the_example(
    settings: Settings, s3: S3Server, models: dict[str, Any]
) -> None:
    registry = Registry.from_settings(settings)
    source, version = _registered(registry, models["adapter"])
    prefix = f"{settings.mlflow_artifact_uri}/"
    assert source.startswith(prefix) and source.endswith(f"/{ADAPTER_PATH}")
    uploaded = s3.keys(BUCKET)
    key = f"{source.removeprefix(f's3://{BUCKET}/')}/adapter_model.safetensors"
    assert key in uploaded, uploaded
    assert registry.get_version("tone-s3", version).source == source

    served = load_adapter(_deployed("tone-s3", version, source, models["base"]), settings, None)
    from tonebridge.handlers.methods.inference import generate_rewrites

    assert generate_rewrites(served.loaded, [(TEXT, TONE)]) == [models["expected"]]


def test_a_download_is_a_copy_of_what_was_uploaded(
    settings: Settings, models: dict[str, Any], tmp_path: Path
) -> None:
    registry = Registry.from_settings(settings)
    source, _ = _registered(registry, models["adapter"])
    copy = local_copy(source, settings, tmp_path / "download")
    assert copy.is_relative_to(tmp_path / "download")
    for original in models["adapter"].iterdir():
        assert (copy / original.name).read_bytes() == original.read_bytes(), original.name
