from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
import redis.asyncio as redis
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse, Response

from tests.integration.api.helpers import REDIS_HOST, REDIS_PORT, drop_redis_prefix
from tonebridge.api.guard_store import GuardStore, MemoryGuardStore, RedisGuardStore
from tonebridge.api.idempotency import (
    BODY_OMITTED_HEADER,
    NOT_JSON,
    REPLAYED_HEADER,
    Idempotency,
    fingerprint,
    legacy_fingerprint,
    parse_json,
)
from tonebridge.api.services import ApiServices
from tonebridge.settings import load_settings

pytestmark = pytest.mark.integration


async def test_first_use_owns_the_key_and_a_retry_replays(guard_store: GuardStore) -> None:
    idem = Idempotency(guard_store)
    fp = fingerprint("POST", "/train", b'{"a": 1}')
    assert await idem.begin("k1", fp) is None
    first = JSONResponse({"job_id": "j-1"}, status_code=202, headers={"Location": "/x"})
    await idem.finish("k1", fp, first)
    replay = await idem.begin("k1", fp)
    assert replay is not None
    response = replay.to_response()
    assert (response.status_code, response.body) == (202, first.body)
    assert response.headers["location"] == "/x"
    assert response.headers[REPLAYED_HEADER] == "true"


async def test_same_key_other_body_is_refused_with_422(guard_store: GuardStore) -> None:
    idem = Idempotency(guard_store)
    fp = fingerprint("POST", "/train", b'{"a": 1}')
    await idem.begin("k1", fp)
    await idem.finish("k1", fp, JSONResponse({}, status_code=202))
    with pytest.raises(RequestValidationError) as caught:
        await idem.begin("k1", fingerprint("POST", "/train", b'{"a": 2}'))
    [error] = caught.value.errors()
    assert error["loc"] == ("header", "Idempotency-Key")
    assert "different request" in error["msg"]


async def test_retry_while_in_flight_is_409(guard_store: GuardStore) -> None:
    idem = Idempotency(guard_store)
    fp = fingerprint("POST", "/train", b"{}")
    await idem.begin("k1", fp)
    with pytest.raises(HTTPException) as caught:
        await idem.begin("k1", fp)
    assert caught.value.status_code == 409


async def test_server_errors_and_abandoned_keys_can_be_retried(guard_store: GuardStore) -> None:
    idem = Idempotency(guard_store)
    fp = fingerprint("POST", "/train", b"{}")
    await idem.begin("k1", fp)
    await idem.finish("k1", fp, Response(b"boom", status_code=503))
    assert await idem.begin("k1", fp) is None
    await idem.abandon("k1")
    assert await idem.begin("k1", fp) is None


def test_fingerprint_ignores_json_key_order_but_not_values_or_path() -> None:
    base = fingerprint("POST", "/train", b'{"a": 1, "b": 2}')
    assert base == fingerprint("POST", "/train", b'{"b":2,"a":1}')
    assert base != fingerprint("POST", "/train", b'{"a": 1, "b": 3}')
    assert base != fingerprint("POST", "/rlhf/start", b'{"a": 1, "b": 2}')
    assert fingerprint("POST", "/x", b"not json") != fingerprint("POST", "/x", b"not json!")
    body = b'{"b": [1, {"c": null}], "a": "\\u00e9"}'
    assert fingerprint("POST", "/x", body, parse_json(body)) == fingerprint("POST", "/x", body)
    assert parse_json(b"\xff") is NOT_JSON


def test_fingerprint_canonicalises_any_json_and_takes_what_it_cannot_as_bytes() -> None:
    accented = fingerprint("POST", "/x", '{"b": 1.5, "a": "é€"}'.encode())
    assert accented == fingerprint("POST", "/x", '{"a":"é€","b":1.5}'.encode())
    assert accented != fingerprint("POST", "/x", '{"a":"e€","b":1.5}'.encode())
    deep = b"[" * 300 + b"]" * 300  # deeper than orjson writes: the bytes as sent
    assert fingerprint("POST", "/x", deep) == fingerprint("POST", "/x", deep)
    assert fingerprint("POST", "/x", deep) != fingerprint("POST", "/x", b"[" * 299 + b"]" * 299)


async def test_a_retry_of_a_request_fingerprinted_by_the_earlier_version_replays(
    guard_store: GuardStore,
) -> None:
    """Earlier versions canonicalised with Python's json (non-ASCII escaped): their stored
    fingerprint differs from this version's for the same body, and still matches it."""
    body = '{"b": 1e16, "a": "é"}'.encode()
    old_fp = legacy_fingerprint("POST", "/feedback", body)
    assert old_fp != fingerprint("POST", "/feedback", body)
    head = json.dumps(["done", old_fp, 202, "application/json", {}]).encode()
    await guard_store.put("idem:k-old", head + b"\n" + b'{"ok": 1}', 60)
    idem = Idempotency(guard_store)
    replay = await idem.begin(
        "k-old",
        fingerprint("POST", "/feedback", body),
        lambda: legacy_fingerprint("POST", "/feedback", body),
    )
    assert replay is not None and replay.body == b'{"ok": 1}'
    other = '{"b": 1e16, "a": "è"}'.encode()
    with pytest.raises(RequestValidationError):
        await idem.begin(
            "k-old",
            fingerprint("POST", "/feedback", other),
            lambda: legacy_fingerprint("POST", "/feedback", other),
        )


async def test_entries_kept_by_the_earlier_format_still_replay(guard_store: GuardStore) -> None:
    """Before, an entry was one JSON object with the body in base64: a store written by the
    previous version (Redis, during an upgrade) still answers retries."""
    fp = fingerprint("POST", "/train", b"{}")
    body = b'{"job_id": "j-1"}\n\xff'
    old = {"state": "done", "fingerprint": fp, "status": 202, "media_type": "application/json",
           "body": base64.b64encode(body).decode(), "headers": {"location": "/x"}}  # fmt: skip
    await guard_store.put("idem:k-old", json.dumps(old).encode(), 60)
    await guard_store.put(
        "idem:k-busy", json.dumps({"state": "in_flight", "fingerprint": fp}).encode(), 60
    )
    replay = await Idempotency(guard_store).begin("k-old", fp)
    assert replay is not None
    assert (replay.status_code, replay.body, replay.headers) == (202, body, {"location": "/x"})
    with pytest.raises(HTTPException) as busy:
        await Idempotency(guard_store).begin("k-busy", fp)
    assert busy.value.status_code == 409


async def test_a_body_with_newlines_and_any_bytes_replays_whole(guard_store: GuardStore) -> None:
    idem = Idempotency(guard_store)
    fp = fingerprint("POST", "/train", b"{}")
    body = b'{"a": "x\ny"}\n\n\x00\xff'
    assert await idem.begin("k-bytes", fp) is None
    await idem.finish("k-bytes", fp, Response(body, 202, {"Location": "/y"}, "text/plain"))
    replay = await idem.begin("k-bytes", fp)
    assert replay is not None
    assert (replay.body, replay.media_type, replay.headers) == (
        body,
        "text/plain",
        {"location": "/y"},
    )


async def test_replies_expire_after_the_ttl(guard_store: GuardStore) -> None:
    idem = Idempotency(guard_store, ttl_s=1)
    fp = fingerprint("POST", "/train", b"{}")
    await idem.begin("k1", fp)
    await idem.finish("k1", fp, JSONResponse({"job_id": "j"}, status_code=202))
    assert await idem.begin("k1", fp) is not None
    deadline = time.monotonic() + 5
    while (replay := await idem.begin("k1", fp)) is not None:  # wait on the expiry itself
        assert time.monotonic() < deadline, "the reply outlived its TTL"
        await asyncio.sleep(0.05)
    assert replay is None


async def test_redis_keeps_replies_for_the_ttl(unique: str) -> None:
    prefix = f"tonebridge-test:{unique}:"
    store = RedisGuardStore(REDIS_HOST, REDIS_PORT, prefix)
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        idem = Idempotency(store, ttl_s=600)
        fp = fingerprint("POST", "/train", b"{}")
        await idem.begin("k1", fp)
        assert 0 < await client.pttl(f"{prefix}idem:k1") <= 120_000  # the in-flight lock
        await idem.finish("k1", fp, JSONResponse({}, status_code=202))
        assert 120_000 < await client.pttl(f"{prefix}idem:k1") <= 600_000
    finally:
        await client.aclose()
        await store.close()
        await drop_redis_prefix(prefix)


async def test_an_oversized_success_replays_status_and_location_not_its_body(
    guard_store: GuardStore,
) -> None:
    idem = Idempotency(guard_store, max_body_bytes=100)
    fp = fingerprint("POST", "/train", b"{}")
    await idem.begin("k1", fp)
    big = JSONResponse({"ids": ["x" * 200]}, status_code=202, headers={"Location": "/jobs/j"})
    await idem.finish("k1", fp, big)
    replay = await idem.begin("k1", fp)
    assert replay is not None  # the request is not run again
    response = replay.to_response()
    assert (response.status_code, response.headers["location"]) == (202, "/jobs/j")
    assert response.headers[BODY_OMITTED_HEADER] == "true"
    assert len(response.body) <= 300
    assert b"already processed" in response.body


async def test_an_oversized_refusal_is_forgotten_and_small_replies_are_kept_whole(
    guard_store: GuardStore,
) -> None:
    idem = Idempotency(guard_store, max_body_bytes=100)
    fp = fingerprint("POST", "/feedback", b"{}")
    await idem.begin("k1", fp)
    await idem.finish("k1", fp, JSONResponse({"detail": "x" * 200}, status_code=422))
    assert await idem.begin("k1", fp) is None  # nothing was done: the retry runs again
    small = JSONResponse({"detail": "no"}, status_code=422)
    await idem.finish("k1", fp, small)
    replay = await idem.begin("k1", fp)
    assert replay is not None and replay.body == small.body


async def test_a_full_memory_store_forgets_the_oldest_key() -> None:
    idem = Idempotency(MemoryGuardStore(max_values=2))
    fp = fingerprint("POST", "/train", b"{}")
    for key in ("k1", "k2", "k3"):
        await idem.begin(key, fp)
        await idem.finish(key, fp, JSONResponse({}, status_code=202))
    assert await idem.begin("k1", fp) is None
    assert await idem.begin("k3", fp) is not None


def test_the_api_takes_the_ttl_and_the_body_bound_from_the_settings() -> None:
    settings = load_settings(api_idempotency_ttl_s=5, api_idempotency_max_body_bytes=10)
    idem = ApiServices.build(settings, MemoryGuardStore()).idempotency
    assert (idem.ttl_s, idem.max_body_bytes) == (5, 10)
