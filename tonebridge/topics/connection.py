"""How every aiokafka producer, consumer and admin client connects, from :class:`Settings`."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from aiokafka.errors import BrokerNotAvailableError, KafkaError, KafkaTimeoutError

from tonebridge.errors import ConfigError
from tonebridge.settings import Settings

_SASL = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_TLS = frozenset({"SSL", "SASL_SSL"})


def client_kwargs(settings: Settings, client_id: str = "tonebridge") -> dict[str, Any]:
    """Keyword arguments shared by AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": client_id,
        "security_protocol": protocol,
    }
    if protocol in _SASL:
        kwargs.update(_sasl_kwargs(settings))
    if protocol in _TLS:
        kwargs["ssl_context"] = ssl_context(settings)
    return kwargs


def _sasl_kwargs(settings: Settings) -> dict[str, Any]:
    # aiokafka takes the SCRAM credentials in its "plain" arguments too.
    password = settings.kafka_sasl_password
    if not (settings.kafka_sasl_mechanism and settings.kafka_sasl_username and password):
        msg = (
            f"KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs "
            "KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
        )
        raise ConfigError(msg)
    return {
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": password.get_secret_value(),
    }


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """A verifying TLS context: ``KAFKA_SSL_CAFILE`` if set, else the system's CAs; it presents
    the client chain ``KAFKA_SSL_CERTFILE`` + ``KAFKA_SSL_KEYFILE`` when they are set (mTLS)."""
    cafile = _existing(settings.kafka_ssl_cafile, "KAFKA_SSL_CAFILE")
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (ssl.SSLError, OSError) as exc:
        msg = f"KAFKA_SSL_CAFILE {cafile} holds no usable CA certificate: {exc}"
        raise ConfigError(msg) from exc
    _load_client_chain(context, settings)
    return context


def _existing(path: Path | None, variable: str) -> Path | None:
    if path is not None and not path.is_file():
        msg = f"{variable} {path} is not a file"
        raise ConfigError(msg)
    return path


def _load_client_chain(context: ssl.SSLContext, settings: Settings) -> None:
    certfile = _existing(settings.kafka_ssl_certfile, "KAFKA_SSL_CERTFILE")
    keyfile = _existing(settings.kafka_ssl_keyfile, "KAFKA_SSL_KEYFILE")
    if certfile is None and keyfile is None:
        return
    if certfile is None or keyfile is None:
        msg = "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE must be set together (mTLS)"
        raise ConfigError(msg)
    secret = settings.kafka_ssl_key_password
    password = secret.get_secret_value() if secret else ""
    try:
        # A callable, never None: with None OpenSSL would prompt on the terminal for the
        # passphrase of an encrypted key and hang a service that has no terminal.
        context.load_cert_chain(certfile, keyfile, password=lambda: password)
    except (ssl.SSLError, OSError) as exc:
        msg = (
            f"KAFKA_SSL_CERTFILE {certfile} and KAFKA_SSL_KEYFILE {keyfile} are not a usable "
            f"certificate chain and matching key (is KAFKA_SSL_KEY_PASSWORD right?): {exc}"
        )
        raise ConfigError(msg) from exc


def is_transient(error: BaseException) -> bool:
    """Whether trying again later can help: the broker is down, starting, or moving leaders."""
    if isinstance(error, KafkaTimeoutError | BrokerNotAvailableError | asyncio.TimeoutError):
        return True
    return isinstance(error, KafkaError) and bool(error.retriable)
