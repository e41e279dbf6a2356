"""``Idempotency-Key`` on POST requests (after the IETF httpapi idempotency-key draft).

The first request with a key reserves it, runs, and stores its response; a retry with the
same key and the same request gets that stored response back (``Idempotent-Replayed: true``)
without running again. The same key with a different request is refused with 422, and a
retry that arrives while the first is still running with 409. Failures (an exception or a
5xx) are not stored, so the client may retry them. Keys are scoped per API key and kept
for ``API_IDEMPOTENCY_TTL_S`` (a day by default).

A response body larger than ``API_IDEMPOTENCY_MAX_BODY_BYTES`` is not kept. A refusal (4xx)
that large is forgotten, as nothing was done: a retry is refused the same way again. A
success that large is replayed with its status and headers (``Location`` among them), a short
JSON ``detail`` instead of its body and ``Idempotent-Body-Omitted: true``: the client learns
that its request was done, and it is not done twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from tonebridge.api.guard_store import GuardStore

if TYPE_CHECKING:
    from tonebridge.settings import Settings

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
BODY_OMITTED_HEADER = "Idempotent-Body-Omitted"
_KEPT_HEADERS = ("location", "retry-after")


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes
    media_type: str | None
    headers: dict[str, str]

    def to_response(self) -> Response:
        headers = {**self.headers, REPLAYED_HEADER: "true"}
        return Response(self.body, self.status_code, headers, self.media_type)

    @classmethod
    def of(cls, response: Response) -> StoredResponse:
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in response.raw_headers
            if name in _KEPT_RAW
        }
        return cls(response.status_code, bytes(response.body), response.media_type, headers)


_KEPT_RAW = frozenset(name.encode() for name in _KEPT_HEADERS)  # raw header names are lower case
NOT_JSON: Any = object()  # what :func:`parse_json` gives for a body that is not JSON


def parse_json(body: bytes) -> Any:
    """``body`` parsed, or :data:`NOT_JSON` (also for JSON that only Python's own parser
    takes: ``NaN``, UTF-16, integers past 64 bits; such a request goes FastAPI's way)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:  # not JSON, or not UTF-8
        return NOT_JSON


def fingerprint(method: str, path: str, body: bytes, parsed: Any = None) -> str:
    """Digest of the request; JSON bodies are canonicalised so key order does not matter.
    ``parsed``: the body already parsed (:func:`parse_json`), if the caller has it."""
    parsed = parse_json(body) if parsed is None else parsed
    canonical = body
    if parsed is not NOT_JSON:
        try:
            canonical = orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # nested too deep to canonicalise: the bytes as sent
            canonical = body
    return _digest(method, path, canonical)


def legacy_fingerprint(method: str, path: str, body: bytes) -> str:
    """:func:`fingerprint` as earlier versions computed it (Python's JSON canonical form:
    non-ASCII escaped, ``1e+16``): a retry of a request those versions stored still matches."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, or not UTF-8
        canonical = body
    return _digest(method, path, canonical)


def _digest(method: str, path: str, canonical: bytes) -> str:
    return hashlib.sha256(b"%s %s\n%s" % (method.encode(), path.encode(), canonical)).hexdigest()


# An entry is a JSON line (state, fingerprint, and for a stored response its status, media
# type and headers) and, after the newline, the stored body as it is. Entries kept by
# earlier versions (one JSON object, the body in base64) are still read.
def _encode(state: str, fp: str, stored: StoredResponse | None = None) -> bytes:
    if stored is None:
        return orjson.dumps([state, fp]) + b"\n"
    head = [state, fp, stored.status_code, stored.media_type, stored.headers]
    return orjson.dumps(head) + b"\n" + stored.body


def _decode(raw: bytes) -> tuple[str, str, StoredResponse | None]:
    if raw.startswith(b"{"):
        return _decode_object(raw)
    line, _, body = raw.partition(b"\n")
    state, fp, *rest = orjson.loads(line)
    if state != "done":
        return state, fp, None
    status, media_type, headers = rest
    return "done", fp, StoredResponse(status, body, media_type, headers)


def _decode_object(raw: bytes) -> tuple[str, str, StoredResponse | None]:
    entry = json.loads(raw)
    if entry["state"] != "done":
        return entry["state"], entry["fingerprint"], None
    stored = StoredResponse(
        entry["status"], base64.b64decode(entry["body"]), entry["media_type"], entry["headers"]
    )
    return "done", entry["fingerprint"], stored


class Idempotency:
    """Reserve, replay or refuse requests by key, on any :class:`GuardStore`."""

    def __init__(
        self,
        store: GuardStore,
        ttl_s: int = 86_400,
        lock_ttl_s: int = 120,
        max_body_bytes: int = 64 * 1024,
    ) -> None:
        self._store = store
        self.ttl_s = ttl_s
        self.lock_ttl_s = lock_ttl_s
        self.max_body_bytes = max_body_bytes

    @classmethod
    def of(cls, store: GuardStore, settings: Settings) -> Idempotency:
        return cls(
            store,
            ttl_s=settings.api_idempotency_ttl_s,
            max_body_bytes=settings.api_idempotency_max_body_bytes,
        )

    async def begin(
        self, key: str, fp: str, legacy: Callable[[], str] | None = None
    ) -> StoredResponse | None:
        """None: the caller owns the key and must :meth:`finish` or :meth:`abandon` it.
        A stored response: replay it. Raises 409 (in flight) or 422 (other request).
        ``legacy``: the request's :func:`legacy_fingerprint`, tried if the stored one differs."""
        existing = await self._store.put_if_absent(
            f"idem:{key}", _encode("in_flight", fp), self.lock_ttl_s
        )
        if existing is None:
            return None
        state, stored_fp, stored = _decode(existing)
        if stored_fp != fp and (legacy is None or stored_fp != legacy()):
            msg = f"{HEADER} was already used for a different request; use a new key"
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("header", HEADER), "msg": msg, "input": key}]
            )
        if stored is None:
            msg = f"a request with this {HEADER} is still being processed; retry later"
            raise HTTPException(409, msg, headers={"Retry-After": "1"})
        return stored

    async def finish(self, key: str, fp: str, response: Response) -> None:
        """Keep ``response`` for replays; failures and oversized refusals are not kept."""
        if response.status_code >= 500 or not hasattr(response, "body"):
            await self.abandon(key)
            return
        stored = StoredResponse.of(response)
        if len(stored.body) > self.max_body_bytes:
            if response.status_code >= 400:  # nothing was done: a retry gets the same answer
                await self.abandon(key)
                return
            stored = _body_omitted(stored)
        await self._store.put(f"idem:{key}", _encode("done", fp, stored), self.ttl_s)

    async def abandon(self, key: str) -> None:
        await self._store.delete(f"idem:{key}")


def _body_omitted(stored: StoredResponse) -> StoredResponse:
    """What replays a success whose body is too large to keep: its status and headers (its
    ``Location`` among them), and a short body that says so; the request is not run again."""
    detail = (
        f"this request was already processed (status {stored.status_code}); its response "
        f"({len(stored.body)} bytes) was larger than the idempotency store keeps, so only its "
        "status and headers are replayed"
    )
    headers = {**stored.headers, BODY_OMITTED_HEADER: "true"}
    body = json.dumps({"detail": detail}).encode()
    return StoredResponse(stored.status_code, body, "application/json", headers)
