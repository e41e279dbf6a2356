"""The package layout's promises (docs/architecture.md): no import cycle between packages, a
pure decisions package, processes that load only what they run, and a core install (no
extras) that runs the client SDK and the CLI's core."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.installs import project_requirements, run_installed_as, shadow_site

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tonebridge"
HEAVY = ("faust", "mode", "torch", "trl", "transformers", "peft", "mlflow", "datasets")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (ROOT / Path(*name.split("."))).is_dir()


def is_module(name: str) -> bool:
    return (ROOT / Path(*name.split("."))).with_suffix(".py").is_file()


def package_of(name: str) -> str:
    """A package stands for itself; a module for its package, a top-level module for itself."""
    if is_package(name):
        return name
    parent = name.rpartition(".")[0]
    return parent if parent != "tonebridge" else name


def imported(path: Path) -> Iterator[str]:
    """The tonebridge modules and packages ``path`` imports, anywhere in its body."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("tonebridge"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tonebridge"):
            module = str(node.module)
            subs = [f"{module}.{a.name}" for a in node.names]
            found = [
                s for s in subs if is_package(s) or (ROOT / f"{s.replace('.', '/')}.py").exists()
            ]
            yield from found or [module]


def package_graph() -> dict[str, set[str]]:
    """Package -> the packages it imports. A subpackage may use its ancestors' modules (the
    ancestor composes it, e.g. ``api/app.py`` mounts ``api/routes``): those edges are left out."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SOURCE.rglob("*.py"):
        source = package_of(module_name(path))
        for target in map(package_of, imported(path)):
            if target != source and not source.startswith(f"{target}."):
                edges[source].add(target)
    return edges


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_packages() -> None:
    assert cycles(package_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_decisions_are_pure() -> None:
    """Pure decision logic imports no process: no agents, handlers, api, storage or faust."""
    for path in (SOURCE / "decisions").rglob("*.py"):
        names = set(imported(path))
        assert not {n for n in names if n.split(".")[1] in ("agents", "handlers", "api")}, path
        text = path.read_text()
        assert "import faust" not in text and "from faust" not in text, path


@pytest.mark.parametrize(
    "statement",
    [
        "import tonebridge.api.app; tonebridge.api.app.create_app",
        "import tonebridge.agents.views",
        "import tonebridge.decisions.retraining, tonebridge.decisions.promotion",
        "import tonebridge.client",  # what an inference service embeds
    ],
)
def test_the_api_loads_no_stream_or_training_framework(statement: str) -> None:
    loaded = f"import sys; {statement}; print(sorted({{m.split('.')[0] for m in sys.modules}}))"
    out = subprocess.run(
        [sys.executable, "-c", loaded], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert not set(eval(out)) & set(HEAVY)  # noqa: S307 (our own subprocess's list literal)


# --- installs with some extras only ---------------------------------------------------
# The child sees only the distributions an install with those extras would have
# (tests/support/installs.py): the core runs the client and the CLI's core, each process
# imports with its own extra, and a command without its extra says which one to install.
CLI = """
import sys
sys.argv = ["tonebridge", *sys.argv[1:]]
import tonebridge.client
from tonebridge.cli import main
main()
"""
PROCESSES = {
    "worker": "import tonebridge.agents.worker, tonebridge.agents.app, tonebridge.storage.migrate",
    "api": "import tonebridge.api.app, tonebridge.registration, tonebridge.storage.migrate, "
    "tonebridge.handlers.datasets.commands, uvicorn",
    "trainer": "import tonebridge.handlers.trainer.service, tonebridge.handlers.evaluation, "
    "tonebridge.handlers.registry.deployment, torch, trl, peft, transformers, datasets",
}


@pytest.fixture(scope="module")
def core_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shadow_site(project_requirements(), tmp_path_factory.mktemp("core"))


def test_a_core_install_has_no_framework(core_site: Path) -> None:
    present = {path.name for path in core_site.iterdir()}
    assert {"aiokafka", "fastavro", "pydantic", "typer"} <= present
    assert not present & {"torch", "trl", "faust", "mlflow", "fastapi", "sqlalchemy"}


@pytest.mark.parametrize(
    "args", [["--help"], ["models", "watch", "--help"], ["topics", "create", "--help"]]
)
def test_a_core_install_runs_the_client_and_the_cli_core(core_site: Path, args: list[str]) -> None:
    done = run_installed_as(core_site, CLI, *args)
    assert done.returncode == 0, done.stderr
    assert "Usage: tonebridge" in done.stdout


@pytest.mark.parametrize(
    ("args", "extra"),
    [(["worker"], "[worker]"), (["trainer"], "[trainer]"), (["api"], "[api]"),
     (["db", "current"], "[worker] or [api] or [trainer]")],
)  # fmt: skip
def test_a_command_without_its_extra_names_it(core_site: Path, args: list[str], extra: str) -> None:
    done = run_installed_as(core_site, CLI, *args)
    assert done.returncode == 2, done.stderr
    assert f"needs the {extra} extra" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("extra", sorted(PROCESSES))
def test_each_process_imports_with_its_own_extra(extra: str, tmp_path: Path) -> None:
    site = shadow_site(project_requirements(extra), tmp_path / extra)
    done = run_installed_as(site, PROCESSES[extra])
    assert done.returncode == 0, done.stderr[-3000:]
