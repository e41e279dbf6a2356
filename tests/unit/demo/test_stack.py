"""The demo's data dir and the settings it hands to its children."""

from __future__ import annotations

from pathlib import Path

import pytest

from tonebridge.demo.options import DemoOptions
from tonebridge.demo.stack import (
    MARKER,
    PACKAGE_ROOT,
    Stack,
    prepare_data_dir,
    settings_from,
    stack_overrides,
)
from tonebridge.errors import ConfigError
from tonebridge.settings import load_settings


def options(tmp_path: Path) -> DemoOptions:
    return DemoOptions(data_dir=tmp_path / "demo", cache_dir=tmp_path / "cache")


def test_a_demo_dir_starts_afresh_unless_kept(tmp_path: Path) -> None:
    path = prepare_data_dir(tmp_path / "demo", keep=False)
    (path / "old.log").write_text("previous run")
    assert prepare_data_dir(path, keep=True) == path and (path / "old.log").exists()
    assert prepare_data_dir(path, keep=False) == path
    assert not (path / "old.log").exists() and (path / MARKER).is_file()


def test_a_folder_the_demo_did_not_make_is_never_emptied(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not made by tonebridge demo"):
        prepare_data_dir(tmp_path, keep=False)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_the_embedded_broker_is_named_and_the_policies_are_the_demos(tmp_path: Path) -> None:
    values = stack_overrides(load_settings(), options(tmp_path), "127.0.0.1:4321")
    settings = settings_from(values)
    assert settings.bootstrap_servers == "127.0.0.1:4321"
    assert settings.data_dir == tmp_path / "demo"
    assert settings.sqlalchemy_url.endswith(f"{tmp_path}/demo/tonebridge.db")
    assert Path(values["RETRAIN_POLICIES_FILE"]).name == "policies.yaml"
    assert "KAFKA_TOPIC_PREFIX" not in values
    assert settings.api_host == "127.0.0.1" and int(values["API_PORT"]) == settings.api_port


def test_on_a_real_kafka_every_run_gets_its_own_topic_prefix(tmp_path: Path) -> None:
    base = load_settings(kafka_bootstrap_servers="kafka:9092", kafka_topic_prefix="acme.")
    first = stack_overrides(base, options(tmp_path), None)["KAFKA_TOPIC_PREFIX"]
    second = stack_overrides(base, options(tmp_path), None)["KAFKA_TOPIC_PREFIX"]
    assert first.startswith("acme.demo-") and first.endswith(".") and first != second


def test_children_get_the_overrides_and_can_import_tonebridge(tmp_path: Path) -> None:
    stack = Stack(load_settings(), {"DATA_DIR": str(tmp_path)}, embedded_broker=True)
    env = stack.child_env({"PATH": "/bin", "PYTHONPATH": "/x", "DATA_DIR": "elsewhere"})
    assert env["DATA_DIR"] == str(tmp_path) and env["PATH"] == "/bin"
    assert env["PYTHONPATH"] == f"{PACKAGE_ROOT}:/x"
    assert (PACKAGE_ROOT / "tonebridge" / "cli.py").is_file()
    assert env["HF_HUB_OFFLINE"] == "1"
