"""The dashboard's pages: ``/ui/login`` (an admin key for a session cookie), ``/ui/logout``
and the four pages, each an HTML shell whose script fetches ``/ui/api/...`` and polls it.

Every page answers with a Content-Security-Policy that allows nothing but this origin:
the dashboard works offline, and an injected script or a CDN asset would not run.
"""

from __future__ import annotations

from importlib.resources import files
from string import Template
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from tonebridge.api.auth import Scope
from tonebridge.api.deps import Services
from tonebridge.api.services import ApiServices
from tonebridge.api.sessions import COOKIE, CSRF_HEADER, SESSION_TTL_S

router = APIRouter(prefix="/ui", include_in_schema=False)
STATIC = files("tonebridge.api.ui") / "static"
PAGES = {"models": "Models", "feedback": "Feedback", "abtests": "A/B tests", "training": "Training"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "Cache-Control": "no-store"}
KeyField = Annotated[str, Form(max_length=1000)]


def static_files() -> StaticFiles:
    return StaticFiles(directory=str(STATIC))


def _template(name: str) -> Template:
    return Template((STATIC / name).read_text(encoding="utf-8"))


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_HEADERS)


def _login_page(error: str = "", status: int = 200) -> HTMLResponse:
    return _html(_template("login.html").substitute(error=error), status)


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/models", status_code=303)


@router.get("/login")
async def login_form() -> HTMLResponse:
    return _login_page()


@router.post("/login", response_model=None)
async def login(request: Request, services: Services, key: KeyField = "") -> Response:
    """A right admin key sets the session cookie; anything else is refused (401)."""
    client = request.client.host if request.client else "unknown"
    decision = await services.rate_limiter.hit(f"ui-login:{client}")
    if not decision.allowed:
        return _login_page("Too many attempts: wait a minute.", 429)
    principal = services.authenticator.identify(key) if key else None
    if principal is None or not principal.allows(Scope.ADMIN):
        return _login_page("Wrong key: an admin API key is needed.", 401)
    response = RedirectResponse("/ui/models", status_code=303)
    _set_cookie(response, request, services.sessions.issue(principal.key_id))
    return response


def _set_cookie(response: Response, request: Request, value: str) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE, value, max_age=SESSION_TTL_S, httponly=True, samesite="strict", secure=secure
    )


@router.post("/logout")
async def logout(request: Request, services: Services) -> Response:
    """Ends the session (with the page's CSRF token: another site cannot log you out)."""
    session = services.sessions.verify(request.cookies.get(COOKIE))
    if session is not None and not services.sessions.csrf_ok(
        session, request.headers.get(CSRF_HEADER)
    ):
        return Response(status_code=403)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict")
    return response


@router.get("/{page}", response_model=None)
async def page(page: str, request: Request, services: Services) -> Response:
    if page not in PAGES:
        return _html("<!doctype html><title>Not found</title><p>No such page.", 404)
    if not _logged_in(request, services):
        return RedirectResponse("/ui/login", status_code=303)
    nav = "".join(_link(name, title, name == page) for name, title in PAGES.items())
    text = _template("page.html").substitute(page=page, title=PAGES[page], nav=nav)
    return _html(text)


def _logged_in(request: Request, services: ApiServices) -> bool:
    return services.sessions.verify(request.cookies.get(COOKIE)) is not None


def _link(name: str, title: str, current: bool) -> str:
    mark = ' aria-current="page"' if current else ""
    return f'<a href="/ui/{name}"{mark}>{title}</a>'
