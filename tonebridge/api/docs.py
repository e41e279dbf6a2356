"""The API's own docs offline: ``/docs`` (Swagger UI) and ``/redoc`` load their scripts and
styles from fastapi-offline's copies, served by the app; :class:`DocsPolicy` gives those two
pages a Content-Security-Policy of this origin only, so nothing they embed (ReDoc's
"powered by" logo names a CDN) is fetched from elsewhere."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOC_PAGES = frozenset({"/docs", "/redoc"})
# The two pages start their bundles with an inline script and style themselves inline.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'"
)


class DocsPolicy:
    """ASGI middleware: the docs pages' responses get :data:`DOCS_CSP`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOC_PAGES:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = DOCS_CSP
            await send(message)

        await self.app(scope, receive, send_with_policy)
