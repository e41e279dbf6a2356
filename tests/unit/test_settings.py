from __future__ import annotations

import pytest

from tonebridge.errors import ConfigError
from tonebridge.settings import load_settings


def test_defaults_use_embedded_services(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "POSTGRES_HOST", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.uses_embedded_broker
    assert settings.bootstrap_servers == f"127.0.0.1:{settings.embedded_broker_port}"
    assert settings.sqlalchemy_url.startswith("sqlite+aiosqlite:///")
    assert settings.mlflow_uri.startswith("sqlite:///")
    assert settings.mlflow_experiment_name == "tonebridge-training"
    assert (settings.default_batch_size, settings.default_epochs) == (8, 3)
    assert (settings.lora_r, settings.lora_alpha, settings.lora_dropout) == (8, 32, 0.1)
    assert settings.default_learning_rate == 5e-5


def test_postgres_variables_select_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("POSTGRES_HOST", "db.internal")
    monkeypatch.setenv("POSTGRES_USER", "tb")
    monkeypatch.setenv("POSTGRES_PASSWORD", "p@ss")
    monkeypatch.setenv("POSTGRES_DB", "tonebridge")
    url = load_settings().sqlalchemy_url
    assert url == "postgresql+asyncpg://tb:p%40ss@db.internal:5432/tonebridge"


def test_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "db.internal")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://x@h/d")
    assert load_settings().sqlalchemy_url == "postgresql+asyncpg://x@h/d"


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORA_R", "many")
    with pytest.raises(ConfigError, match="LORA_R"):
        load_settings()


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    settings = load_settings()
    assert "sk-very-secret" not in repr(settings)
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-very-secret"


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.lora_r = 4  # type: ignore[misc]


def test_readme_documents_every_setting() -> None:
    from pathlib import Path

    from tonebridge.settings import Settings

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}" not in readme]
    assert missing == []


def test_a_blank_policy_file_means_unset() -> None:
    """Unset: the worker runs the packaged default policies (decisions/retraining.py)."""
    assert load_settings(retrain_policies_file="").retrain_policies_file is None


def test_retraining_is_on_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETRAIN_ENABLED", raising=False)
    assert load_settings().retrain_enabled
    monkeypatch.setenv("RETRAIN_ENABLED", "false")
    assert not load_settings().retrain_enabled


def test_the_object_store_variables_are_those_set_with_the_secret_revealed() -> None:
    """MLflow's S3 and GCS stores read these names from the environment (boto3, google-auth)."""
    settings = load_settings(
        mlflow_s3_endpoint_url="http://minio:9000",
        aws_access_key_id="AKIA",
        aws_secret_access_key="very-secret",
        aws_default_region=None,
        google_application_credentials="",
    )
    assert settings.object_store_environment() == {
        "MLFLOW_S3_ENDPOINT_URL": "http://minio:9000",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "AWS_SECRET_ACCESS_KEY": "very-secret",
    }
    assert "very-secret" not in repr(settings)
