"""The route class every API router uses: ``Idempotency-Key`` handling on POST routes."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any

from fastapi import Depends, Header, params
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from tonebridge.api.auth import Principal
from tonebridge.api.idempotency import HEADER, fingerprint, legacy_fingerprint, parse_json
from tonebridge.api.services import ApiServices

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_VALID_KEY = re.compile(_KEY_PATTERN)
_PARSED = "tonebridge.parsed_body"  # the scope key of :func:`parsed_body`
_PRINCIPAL = "tonebridge.principal"  # and of :func:`identified`


async def idempotency_key_header(
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            pattern=_KEY_PATTERN,
            description="Retrying with the same key and body returns the first response "
            "without acting twice; the same key with another body is refused (422).",
        ),
    ] = None,
) -> str | None:
    """Documents and validates the header; :class:`IdempotentRoute` does the work."""
    return key


_HEADER_DEPENDENCY = Depends(idempotency_key_header)
_POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body could not be read (not UTF-8 JSON)."},
    409: {"description": "Conflicting state, or a request with this Idempotency-Key in flight."},
    413: {"description": "The body is larger than the API accepts (8 MiB)."},
}


class IdempotentRoute(APIRoute):
    """An APIRoute whose POST handler replays stored responses for a repeated key.

    The ``Idempotency-Key`` header dependency documents the header and refuses a malformed
    key (422, with the request's other errors, after authentication). A request whose key
    is absent or well formed gains nothing from it, and FastAPI's work per dependency is a
    good part of a small request's cost: it is served by a twin route without it.
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        dependencies: Sequence[params.Depends] | None = None,
        methods: set[str] | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        deps = list(dependencies or ())
        self._twin: APIRoute | None = None
        if methods and "POST" in methods:
            kwargs["responses"] = {**_POST_RESPONSES, **(kwargs.get("responses") or {})}
            plain = [d for d in deps if d is not _HEADER_DEPENDENCY]
            self._twin = APIRoute(path, endpoint, dependencies=plain, methods=methods, **kwargs)
            deps += [] if _HEADER_DEPENDENCY in deps else [_HEADER_DEPENDENCY]
        super().__init__(path, endpoint, dependencies=deps, methods=methods, **kwargs)

    def get_route_handler(self) -> Handler:
        checked = super().get_route_handler()
        if self._twin is None:
            return checked
        plain = self.direct_handler(self._twin, self._twin.get_route_handler())

        async def idempotent(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                return await plain(request)
            if not _VALID_KEY.match(key):
                return await checked(request)  # refuses the key (422), with any other errors
            return await run_idempotently(request, plain, key)

        return idempotent

    def direct_handler(self, plain: APIRoute, fallback: Handler) -> Handler:
        """The handler for requests without a malformed key: ``fallback`` (the twin's);
        a subclass may serve some of them more directly."""
        return fallback


async def run_idempotently(request: Request, handler: Handler, key: str) -> Response:
    """``handler``'s response to the first request with ``key`` (a well-formed one), that
    response again to its retries; keys are scoped per API key."""
    services: ApiServices = request.app.state.services
    principal = identified(request, services)
    if principal is None:
        return await handler(request)  # the handler refuses it (401)
    scoped = f"{principal.key_id}:{key}"
    body = await request.body()
    method, path = request.method, request.scope["path"]
    fp = fingerprint(method, path, body, parsed_body(request, body))
    stored = await services.idempotency.begin(
        scoped, fp, lambda: legacy_fingerprint(method, path, body)
    )
    if stored is not None:
        return stored.to_response()
    try:
        response = await handler(request)
    except BaseException:
        await services.idempotency.abandon(scoped)
        raise
    await services.idempotency.finish(scoped, fp, response)
    return response


def parsed_body(request: Request, body: bytes) -> Any:
    """``body`` (the request's) parsed as JSON, or ``NOT_JSON``; parsed once per request."""
    scope = request.scope
    if _PARSED not in scope:
        scope[_PARSED] = parse_json(body)
    return scope[_PARSED]


def identified(request: Request, services: ApiServices) -> Principal | None:
    """Whose bearer token the request carries (None: nobody's); looked up once per request."""
    scope = request.scope
    if _PRINCIPAL not in scope:
        scope[_PRINCIPAL] = services.authenticator.identify(bearer_token(request))
    principal: Principal | None = scope[_PRINCIPAL]
    return principal


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None
