"""What an install with only some extras can import, without installing anything.

:func:`shadow_site` builds a folder of links to the installed distributions that a set of
requirements pulls in (their dependencies followed through the installed metadata, extras
and markers included), and :func:`run_installed_as` runs Python with that folder as its only
site-packages: any other distribution is absent, as after ``pip install tonebridge-ml[x]``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def load_requirements_script() -> ModuleType:
    """scripts/requirements.py (not a package): what the Dockerfile expands extras with."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("requirements", ROOT / "scripts/requirements.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def project_requirements(*extras: str) -> list[str]:
    """tonebridge-ml's requirements with ``extras``, read from pyproject.toml."""
    return list(load_requirements_script().requirements(list(extras)))


def _needed(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": e}) for e in extras or {""})


def closure(requirements: Iterable[str]) -> dict[str, Distribution]:
    """Every installed distribution the requirements pull in, by canonical name."""
    found: dict[str, Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name, extras = canonical(requirement.name), frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            found[name] = dist = distribution(name)
        except PackageNotFoundError:
            continue  # e.g. a platform-only dependency; the import will tell
        needed = (Requirement(line) for line in dist.requires or [])
        todo += [sub for sub in needed if _needed(sub, extras)]
    return found


def _top_levels(dist: Distribution) -> set[str]:
    return {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}


def shadow_site(requirements: Iterable[str], folder: Path) -> Path:
    """A site-packages folder holding links to exactly what ``requirements`` pull in."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist in closure(requirements).values():
        site = Path(str(dist.locate_file("")))
        for top in _top_levels(dist) - {"__pycache__", "bin"}:
            link = folder / top
            if not link.exists() and (site / top).exists():
                link.symlink_to(site / top)
    return folder


def run_installed_as(
    site: Path, code: str, *args: str, timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``site`` as the only site-packages and this checkout importable."""
    command = [sys.executable, "-S", "-c", code, *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)])}
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
