"""Session cookies: signed, expiring, bound to the admin keys; CSRF tokens per session."""

from __future__ import annotations

from pydantic import SecretStr

from tonebridge.api.auth import Scope
from tonebridge.api.sessions import SESSION_TTL_S, Sessions

KEYS = [SecretStr("admin-one"), SecretStr("admin-two")]


def test_an_issued_cookie_verifies_as_an_admin_session() -> None:
    sessions = Sessions(KEYS)
    session = sessions.verify(sessions.issue("key-1", now=1000.0), now=1001.0)
    assert session is not None and session.key_id == "key-1"
    assert session.principal.allows(Scope.ADMIN)


def test_forged_tampered_and_expired_cookies_are_refused() -> None:
    sessions = Sessions(KEYS)
    cookie = sessions.issue("key-1", now=1000.0)
    key_id, expires, nonce, signature = cookie.split(".")
    assert sessions.verify(f"other.{expires}.{nonce}.{signature}", now=1001.0) is None
    assert sessions.verify(f"{key_id}.9{expires}.{nonce}.{signature}", now=1001.0) is None
    assert sessions.verify(cookie, now=1000.0 + SESSION_TTL_S + 1) is None
    for junk in (None, "", "a.b.c.d", "a.1.b"):
        assert sessions.verify(junk) is None


def test_other_keys_sign_other_sessions_and_replicas_agree() -> None:
    cookie = Sessions(KEYS).issue("key-1", now=1000.0)
    assert Sessions(list(reversed(KEYS))).verify(cookie, now=1001.0) is not None
    assert Sessions([SecretStr("rotated")]).verify(cookie, now=1001.0) is None
    assert Sessions().verify(Sessions().issue("anonymous")) is None  # keyless: per process


def test_the_csrf_token_belongs_to_its_session() -> None:
    sessions = Sessions(KEYS)
    first = sessions.verify(sessions.issue("key-1"))
    second = sessions.verify(sessions.issue("key-1"))
    assert first is not None and second is not None
    token = sessions.csrf_token(first)
    assert sessions.csrf_ok(first, token)
    assert not sessions.csrf_ok(second, token)
    assert not sessions.csrf_ok(first, None)
    assert not sessions.csrf_ok(first, token[:-1])
