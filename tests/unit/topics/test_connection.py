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

from tonebridge.errors import ConfigError
from tonebridge.settings import load_settings
from tonebridge.topics.connection import client_kwargs, is_transient


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
