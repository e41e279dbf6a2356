from __future__ import annotations

import pytest
from pydantic import SecretStr

from tonebridge.api.auth import (
    ANONYMOUS,
    Authenticator,
    Scope,
    check_exposure,
    host_name,
    is_loopback,
)
from tonebridge.errors import ConfigError

ADMIN, INGEST = SecretStr("admin-secret"), SecretStr("ingest-secret")


def test_admin_keys_get_both_scopes_ingest_keys_only_ingest() -> None:
    auth = Authenticator([ADMIN], [INGEST])
    admin, ingest = auth.identify("admin-secret"), auth.identify("ingest-secret")
    assert admin is not None and ingest is not None
    assert admin.allows(Scope.ADMIN) and admin.allows(Scope.INGEST)
    assert ingest.allows(Scope.INGEST) and not ingest.allows(Scope.ADMIN)
    assert admin.key_id != ingest.key_id
    assert "secret" not in admin.key_id


@pytest.mark.parametrize("token", [None, "", "admin-secre", "admin-secret ", "nope"])
def test_unknown_or_missing_tokens_are_nobody(token: str | None) -> None:
    assert Authenticator([ADMIN], [INGEST]).identify(token) is None


def test_without_keys_everyone_is_anonymous_with_every_scope() -> None:
    auth = Authenticator()
    assert not auth.enabled
    assert auth.identify(None) is ANONYMOUS
    assert ANONYMOUS.allows(Scope.ADMIN)


def test_empty_keys_do_not_count_as_keys() -> None:
    assert not Authenticator([SecretStr("")]).enabled


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_open_api_is_allowed_on_loopback(host: str) -> None:
    assert is_loopback(host)
    check_exposure(Authenticator(), host)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "api.example.com"])  # noqa: S104
def test_open_api_is_refused_elsewhere(host: str) -> None:
    with pytest.raises(ConfigError, match="without API keys"):
        check_exposure(Authenticator(), host)
    check_exposure(Authenticator([ADMIN]), host)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost", "localhost"),
        ("localhost:8000", "localhost"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("evil.example:80", "evil.example"),
    ],
)
def test_host_name_drops_the_port(header: str, name: str) -> None:
    assert host_name(header) == name
