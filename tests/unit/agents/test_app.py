"""The worker's faust app connects like every other Kafka client (TLS, SASL, mTLS)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from tests.tls_certs import CLIENT_NAME, KEY_PASSWORD, client_subject_seen_by_server, make_tls_files
from tonebridge.agents.app import faust_settings
from tonebridge.errors import ConfigError
from tonebridge.settings import load_settings
from tonebridge.topics.tables import app_id

SASL = {"kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": "svc"}


def _driver_auth(**settings: Any) -> dict[str, Any]:
    """What faust's aiokafka driver passes to its consumer and producer for these settings."""
    loaded = load_settings(kafka_bootstrap_servers="k1:9093", **settings)
    app = faust.App(app_id(loaded), **faust_settings(loaded))
    auth: dict[str, Any] = credentials_to_aiokafka_auth(
        app.conf.broker_credentials, app.conf.ssl_context
    )
    return auth


def _verifies(context: Any) -> bool:
    return (
        isinstance(context, ssl.SSLContext)
        and context.verify_mode is ssl.CERT_REQUIRED
        and context.check_hostname
    )


def test_ssl_is_tls_with_a_verifying_context() -> None:
    auth = _driver_auth(kafka_security_protocol="SSL")
    assert isinstance(
        faust_settings(load_settings(kafka_security_protocol="SSL"))["broker_credentials"],
        faust.SSLCredentials,
    )
    assert auth["security_protocol"] == "SSL"
    assert _verifies(auth["ssl_context"])


def test_sasl_ssl_is_sasl_over_tls() -> None:
    auth = _driver_auth(kafka_security_protocol="SASL_SSL", kafka_sasl_password="pw", **SASL)
    assert auth["security_protocol"] == "SASL_SSL"
    assert (auth["sasl_mechanism"], auth["sasl_plain_username"]) == ("SCRAM-SHA-512", "svc")
    assert auth["sasl_plain_password"] == "pw"
    assert _verifies(auth["ssl_context"])


def test_sasl_plaintext_stays_plaintext_and_plaintext_has_no_credentials() -> None:
    sasl = _driver_auth(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_password="pw", **SASL)
    assert sasl["security_protocol"] == "SASL_PLAINTEXT"
    assert sasl["ssl_context"] is None
    assert _driver_auth() == {"security_protocol": "PLAINTEXT"}


def test_sasl_without_a_password_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="KAFKA_SASL_PASSWORD"):
        faust_settings(load_settings(kafka_security_protocol="SASL_SSL", **SASL))


def test_the_worker_presents_the_client_certificate(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path)
    auth = _driver_auth(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_password="pw",
        kafka_ssl_cafile=files.ca,
        kafka_ssl_certfile=files.client_cert,
        kafka_ssl_keyfile=files.client_key,
        kafka_ssl_key_password=KEY_PASSWORD,
        **SASL,
    )
    assert client_subject_seen_by_server(files, auth["ssl_context"]) == CLIENT_NAME
