"""What a deployed tonebridge process needs from its environment, checked through ``Settings``.

Shared by the compose and Kubernetes tests: both hand a service's variables to the real settings
class and check that the result points at real infrastructure, not the embedded defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tonebridge.api.app import create_app
from tonebridge.settings import Settings, load_settings

# Unset, each of these silently falls back to an embedded default (broker, SQLite, local MLflow).
REQUIRED = frozenset(
    {
        "DATA_DIR",
        "KAFKA_BOOTSTRAP_SERVERS",
        "POSTGRES_HOST",
        "POSTGRES_PASSWORD",
        "MLFLOW_TRACKING_URI",
    }
)
# The API listens beyond loopback only with keys, and shares its limits through Redis.
API_REQUIRED = REQUIRED | {"API_HOST", "API_ADMIN_KEYS", "API_INGEST_KEYS", "REDIS_HOST"}


def settings_names() -> set[str]:
    """The environment variable names ``Settings`` reads."""
    return {name.upper() for name in Settings.model_fields}


def unknown_names(env: Mapping[str, str]) -> set[str]:
    return set(env) - settings_names()


def load(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``Settings`` as a process with exactly ``env`` would read them."""
    for name in settings_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def assert_production(settings: Settings, *, api: bool = False) -> None:
    """The settings reach a real broker, PostgreSQL and MLflow server; the API's also Redis,
    and they hold the keys the API needs to start on every interface."""
    assert not settings.uses_embedded_broker
    assert settings.sqlalchemy_url.startswith("postgresql+asyncpg://")
    assert settings.postgres_password.get_secret_value()
    assert settings.mlflow_uri.startswith("http")
    if api:
        assert settings.redis_host
        assert settings.api_admin_keys and settings.api_ingest_keys
        assert settings.api_host == "0.0.0.0"  # noqa: S104 - inside a container or pod
        create_app(settings)  # refuses (ConfigError) to serve off loopback without keys
