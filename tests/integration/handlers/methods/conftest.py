"""A real tiny model for the training tests, built once per session (a few seconds on CPU)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tonebridge.handlers.methods.synthetic import SyntheticSplit, rewrite_split

if TYPE_CHECKING:
    import torch


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Scoring in these tests runs outside run_training: keep it off spin-waiting threads."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tonebridge.handlers.methods.tiny import build_model

    return build_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def split() -> SyntheticSplit:
    return rewrite_split(48, 24, seed=3)


@pytest.fixture(scope="session")
def read_adapter() -> Callable[[Path], dict[str, torch.Tensor]]:
    """Reads a saved adapter's tensors (what the registry would ship)."""
    from safetensors.torch import load_file

    def read(adapter_dir: Path) -> dict[str, torch.Tensor]:
        return load_file(str(adapter_dir / "adapter_model.safetensors"))

    return read
