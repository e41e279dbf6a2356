"""Bearer API keys with two scopes, ``ingest`` and ``admin``.

``ingest`` keys may post feedback and inference outcomes; ``admin`` keys may do everything,
ingest included. Keys are compared in constant time against every configured key, so
neither the match nor its position leaks through timing. With no key configured the API
is open, which :func:`check_exposure` allows only on a loopback address (embedded demo),
and :class:`LoopbackHostGuard` answers only requests addressed to a loopback name: a web page
whose DNS name is rebound to 127.0.0.1 sends its own name as ``Host`` and is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from tonebridge.errors import ConfigError


class Scope(StrEnum):
    INGEST = "ingest"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who made a request; ``key_id`` is a digest of the key, safe to log and to use as a
    rate-limit bucket."""

    key_id: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes


ANONYMOUS = Principal("anonymous", frozenset(Scope))
_ADMIN_SCOPES = frozenset({Scope.ADMIN, Scope.INGEST})
_INGEST_SCOPES = frozenset({Scope.INGEST})


def key_digest(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


class Authenticator:
    """Maps a bearer token to a :class:`Principal` (or None when it matches no key)."""

    def __init__(
        self, admin_keys: Iterable[SecretStr] = (), ingest_keys: Iterable[SecretStr] = ()
    ) -> None:
        keys = [(k.get_secret_value().encode(), _ADMIN_SCOPES) for k in admin_keys]
        keys += [(k.get_secret_value().encode(), _INGEST_SCOPES) for k in ingest_keys]
        self._keys = [(key, Principal(key_digest(key), scopes)) for key, scopes in keys if key]

    @property
    def enabled(self) -> bool:
        """False when no key is configured: every request is :data:`ANONYMOUS`."""
        return bool(self._keys)

    def identify(self, token: str | None) -> Principal | None:
        if not self.enabled:
            return ANONYMOUS
        if not token:
            return None
        presented = token.encode()
        found: Principal | None = None
        for key, principal in self._keys:
            # No early exit: every key is compared, whatever matched before.
            if hmac.compare_digest(presented, key):
                found = principal
        return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(authenticator: Authenticator, host: str) -> None:
    """Refuse to serve an open API (no keys) on anything but a loopback address."""
    if authenticator.enabled or is_loopback(host):
        return
    msg = (
        f"refusing to serve the API on {host} without API keys: set API_ADMIN_KEYS "
        "(and API_INGEST_KEYS), e.g. API_ADMIN_KEYS='[\"<secret>\"]', or bind to 127.0.0.1"
    )
    raise ConfigError(msg)


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without port: ``[::1]:8000`` -> ``::1``."""
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class LoopbackHostGuard:
    """ASGI middleware for the open (keyless) API: 400 unless ``Host`` names loopback or
    the configured ``api_host`` (DNS-rebinding defence)."""

    def __init__(self, app: ASGIApp, api_host: str) -> None:
        self.app = app
        self._also = api_host.lower()

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        msg = (
            "this API runs without API keys and answers only requests addressed to "
            "localhost, 127.0.0.1 or [::1]: the Host header names another host"
        )
        await JSONResponse({"detail": msg}, status_code=400)(scope, receive, send)

    def _allowed(self, scope: AsgiScope) -> bool:
        headers = dict(scope.get("headers") or ())
        name = host_name(headers.get(b"host", b"").decode("latin-1")).lower()
        return bool(name) and (is_loopback(name) or name == self._also)
