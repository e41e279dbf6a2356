"""Dashboard sessions: an admin key traded for a signed, HttpOnly session cookie.

The cookie holds ``key_id.expires.nonce.signature``; the signature is an HMAC keyed by a
secret derived from the configured admin keys, so every API replica accepts the same
sessions and rotating the admin keys ends them all. Without keys (the loopback-only open
API) the secret is random per process. A request authenticated by the cookie that changes
state must also send ``X-CSRF-Token``: an HMAC of the session's nonce that only a page of
this origin can read (``GET /ui/api/session``), so another site cannot forge the action.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import SecretStr

from tonebridge.api.auth import Principal, Scope

COOKIE = "tonebridge_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_S = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ADMIN = frozenset({Scope.ADMIN, Scope.INGEST})


@dataclass(frozen=True)
class Session:
    """A verified session cookie: who logged in, and the nonce its CSRF token derives from."""

    key_id: str
    nonce: str

    @property
    def principal(self) -> Principal:
        return Principal(self.key_id, _ADMIN)


class Sessions:
    """Issues and verifies session cookies and their CSRF tokens."""

    def __init__(self, admin_keys: Iterable[SecretStr] = ()) -> None:
        keys = sorted(k.get_secret_value() for k in admin_keys if k.get_secret_value())
        seed = "\n".join(keys).encode() if keys else secrets.token_bytes(32)
        self._secret = hashlib.sha256(b"tonebridge-ui-session\n" + seed).digest()

    def issue(self, key_id: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + SESSION_TTL_S)
        body = f"{key_id}.{expires}.{secrets.token_hex(16)}"
        return f"{body}.{self._sign(body)}"

    def verify(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session, or None for a missing, forged or expired cookie."""
        parts = (cookie or "").split(".")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        body = ".".join(parts[:3])
        if not hmac.compare_digest(parts[3], self._sign(body)):
            return None
        if int(parts[1]) < (now if now is not None else time.time()):
            return None
        return Session(parts[0], parts[2])

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf.{session.nonce}")

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf_token(session))

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()
