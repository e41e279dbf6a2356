"""A command started without its extra names the extra to install."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from tonebridge.errors import ConfigError
from tonebridge.extras import installed, requires

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_third_party_module_names_the_extras() -> None:
    with pytest.raises(ConfigError) as caught, requires("api", "trainer"):
        import tonebridge_test_absent_module  # type: ignore[import-not-found]  # noqa: F401
    message = str(caught.value)
    assert "[api] or [trainer]" in message
    assert "pip install 'tonebridge-ml[api]'" in message
    assert "tonebridge_test_absent_module" in message


def test_a_missing_tonebridge_module_is_a_broken_install_not_an_extra() -> None:
    with pytest.raises(ModuleNotFoundError), requires("worker"):
        import tonebridge.no_such_module  # type: ignore[import-not-found]  # noqa: F401


def test_installed_finds_without_importing() -> None:
    installed("json", "tonebridge")
    with pytest.raises(ModuleNotFoundError) as caught:
        installed("json", "tonebridge_test_absent_module")
    assert caught.value.name == "tonebridge_test_absent_module"


def _required_extras(path: Path) -> set[str]:
    """Every extra named in a ``requires(...)`` call of ``path``."""
    calls = [
        node
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "requires"
    ]
    return {arg.value for call in calls for arg in call.args if isinstance(arg, ast.Constant)}


def test_every_extra_the_cli_names_exists() -> None:
    named = _required_extras(ROOT / "tonebridge" / "cli.py")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"worker", "trainer", "api", "all"} <= named
    assert named <= set(extras["optional-dependencies"])
