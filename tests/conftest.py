"""Fixtures shared by every tier: the embedded broker (once per session) and unique names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tonebridge.broker import EmbeddedBroker  # noqa: E402


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One embedded broker for the whole test session (memory only)."""
    embedded = EmbeddedBroker()
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic names, consumer groups and databases."""
    return uuid.uuid4().hex[:10]
