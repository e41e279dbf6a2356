"""How failures become HTTP responses.

Validation errors keep FastAPI's ``detail`` list (``loc`` names the field) and add a one-line
``message`` such as ``body.rating: Input should be less than or equal to 5``. tonebridge
errors map by kind: not found 404, conflict or violated constraint 409, unsupported model or
an event that does not fit its Avro schema 422 (in the same validation shape), broker or
database trouble 503 with ``Retry-After`` (retrying can help); database errors are
answered in general words (the driver's message names hosts and users) and logged in full.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse

from tonebridge.errors import (
    BrokerError,
    ConflictError,
    DataRefusedError,
    IntegrityError,
    NotFoundError,
    ProduceError,
    SchemaValidationError,
    StoreError,
    StoreUnavailableError,
    TonebridgeError,
    UnsupportedModelError,
)

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5
_STATUS: tuple[tuple[type[TonebridgeError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (IntegrityError, 409),
    (DataRefusedError, 422),  # the database refused a value (a rule the schemas missed)
    (UnsupportedModelError, 422),
    (SchemaValidationError, 422),  # e.g. text that is not valid UTF-8 cannot be encoded
    (ProduceError, 503),
    (BrokerError, 503),
    (StoreError, 503),
)


def describe(errors: Sequence[Any]) -> str:
    """``loc: msg`` for each validation error, joined with ``; ``."""
    parts: list[str] = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type
    errors = exc.errors()
    body = {"detail": _echoable(jsonable_encoder(errors)), "message": describe(errors)}
    return JSONResponse(body, status_code=422)


def _echoable(detail: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The errors without their ``input`` if it holds Infinity or NaN (not JSON to send)."""
    try:
        json.dumps(detail, allow_nan=False)
    except ValueError:
        return [{k: v for k, v in error.items() if k != "input"} for error in detail]
    return detail


async def on_tonebridge_error(_: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    if status == 422:  # every 422 has the validation shape, so clients parse one format
        error = {"type": "value_error", "loc": ["body"], "msg": str(exc)}
        return JSONResponse({"detail": [error], "message": describe([error])}, status_code=422)
    if status >= 500:
        log.warning("answering %d: %s", status, _chain(exc))
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return JSONResponse(
        {"detail": _public_detail(exc, status)}, status_code=status, headers=headers
    )


def _public_detail(exc: Exception, status: int) -> str:
    if status == 500:
        return f"internal error ({type(exc).__name__})"
    # The driver's words name hosts, ports, users and tables: they go to the log only.
    if isinstance(exc, StoreUnavailableError):
        return "the database is unavailable; retry later"
    if type(exc) is StoreError:
        return "the database could not complete the request; retry later"
    return str(exc)


def _chain(exc: BaseException) -> str:
    """The error and its causes on one line, for the log."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 5:
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__
    return " <- ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(TonebridgeError, on_tonebridge_error)
