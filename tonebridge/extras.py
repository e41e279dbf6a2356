"""The optional extras a command needs, named when one is missing.

``pip install tonebridge-ml`` is the client SDK and the CLI's core; each process needs its
extra (``[worker]``, ``[trainer]``, ``[gpu]``, ``[api]``, ``[embedded]``, ``[s3]``, ``[gcs]``
or ``[all]``, listed in pyproject.toml). A command that starts without its extra stops with
the ``pip install`` line that fixes it, not an import traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec

from tonebridge.errors import ConfigError

PACKAGE = "tonebridge-ml"


def install_hint(extras: tuple[str, ...], missing: str) -> str:
    """The message for a command whose ``missing`` module comes with one of ``extras``."""
    named = " or ".join(f"[{extra}]" for extra in extras)
    return (
        f"this command needs the {named} extra ({missing} is not installed): "
        f"pip install '{PACKAGE}[{extras[0]}]'"
    )


@contextmanager
def requires(*extras: str) -> Iterator[None]:
    """Imports inside the block that find a third-party module missing raise a
    :class:`ConfigError` naming the extras that provide it."""
    try:
        yield
    except ModuleNotFoundError as exc:
        missing = exc.name or "a module"
        if missing.partition(".")[0] == "tonebridge":
            raise  # our own module: a broken install, not a missing extra
        raise ConfigError(install_hint(extras, missing)) from exc


def installed(*modules: str) -> None:
    """Raise :class:`ModuleNotFoundError` for the first of ``modules`` that is not installed,
    without importing any (for a process that imports them only once it has work)."""
    for module in modules:
        if find_spec(module) is None:
            msg = f"No module named {module!r}"
            raise ModuleNotFoundError(msg, name=module)
