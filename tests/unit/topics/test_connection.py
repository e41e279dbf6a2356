from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from tests.tls_certs import (
    CLIENT_NAME,
    KEY_PASSWORD,
    TlsFiles,
    client_subject_seen_by_server,
    make_tls_files,
)
from tonebridge.errors import ConfigError
from tonebridge.settings import Settings, load_settings
from tonebridge.topics.connection import client_kwargs, is_transient, ssl_context


def test_plaintext_names_only_the_bootstrap_servers() -> None:
    kwargs = client_kwargs(load_settings(kafka_bootstrap_servers="k1:9092,k2:9092"))
    assert kwargs == {
        "bootstrap_servers": "k1:9092,k2:9092",
        "client_id": "tonebridge",
        "security_protocol": "PLAINTEXT",
    }


def test_the_embedded_broker_is_the_default() -> None:
    settings = load_settings(kafka_bootstrap_servers="", embedded_broker_port=19099)
    assert client_kwargs(settings)["bootstrap_servers"] == "127.0.0.1:19099"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_over_tls_passes_credentials_and_a_verifying_context(mechanism: str) -> None:
    settings = load_settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="svc",
        kafka_sasl_password="s3cret",
    )
    kwargs = client_kwargs(settings)
    assert kwargs["sasl_mechanism"] == mechanism
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("svc", "s3cret")
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


def test_sasl_without_credentials_is_a_config_error() -> None:
    settings = load_settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN")
    with pytest.raises(ConfigError, match="KAFKA_SASL_USERNAME"):
        client_kwargs(settings)


def test_a_missing_or_bad_cafile_is_a_config_error(tmp_path: Path) -> None:
    missing = load_settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "no.pem")
    with pytest.raises(ConfigError, match="not a file"):
        client_kwargs(missing)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="no usable CA"):
        client_kwargs(load_settings(kafka_security_protocol="SSL", kafka_ssl_cafile=bad))


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (KafkaConnectionError(), True),
        (KafkaTimeoutError(), True),
        (NotLeaderForPartitionError(), True),
        (UnknownTopicOrPartitionError(), True),
        (TimeoutError(), True),
        (MessageSizeTooLargeError(), False),
        (TopicAuthorizationFailedError(), False),
        (ValueError(), False),
    ],
)
def test_transient_errors_are_told_apart(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path)


def _mtls(files: TlsFiles, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": files.ca,
        "kafka_ssl_certfile": files.client_cert,
        "kafka_ssl_keyfile": files.client_key,
        "kafka_ssl_key_password": KEY_PASSWORD,
    }
    return load_settings(**(values | overrides))


def test_the_context_presents_the_client_chain_to_a_server_that_requires_one(
    tls_files: TlsFiles,
) -> None:
    context = client_kwargs(_mtls(tls_files))["ssl_context"]
    assert client_subject_seen_by_server(tls_files, context) == CLIENT_NAME


def test_without_a_client_chain_such_a_server_refuses_the_handshake(tls_files: TlsFiles) -> None:
    settings = _mtls(tls_files, kafka_ssl_certfile=None, kafka_ssl_keyfile=None)
    assert client_subject_seen_by_server(tls_files, ssl_context(settings)) is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kafka_ssl_keyfile": None}, "must be set together"),
        ({"kafka_ssl_certfile": None}, "must be set together"),
        (
            {"kafka_ssl_certfile": Path("no-such.crt")},
            "KAFKA_SSL_CERTFILE no-such.crt is not a file",
        ),
        ({"kafka_ssl_keyfile": Path("no-such.key")}, "KAFKA_SSL_KEYFILE no-such.key is not a file"),
        ({"kafka_ssl_key_password": "wrong"}, "KAFKA_SSL_KEY_PASSWORD"),
        ({"kafka_ssl_key_password": None}, "KAFKA_SSL_KEY_PASSWORD"),  # never a terminal prompt
    ],
)
def test_an_unusable_client_chain_is_a_config_error_naming_the_variable(
    tls_files: TlsFiles, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ssl_context(_mtls(tls_files, **overrides))


def test_a_certificate_that_does_not_match_its_key_is_a_config_error(tls_files: TlsFiles) -> None:
    settings = _mtls(tls_files, kafka_ssl_keyfile=tls_files.server_key, kafka_ssl_key_password=None)
    with pytest.raises(ConfigError, match="not a usable certificate chain and matching key"):
        ssl_context(settings)
