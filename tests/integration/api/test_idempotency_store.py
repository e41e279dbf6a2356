from __future__ import annotations

import pytest
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse, Response

from tonebridge.api.guard_store import GuardStore
from tonebridge.api.idempotency import REPLAYED_HEADER, Idempotency, fingerprint

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
