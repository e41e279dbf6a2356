"""The dashboard in a real browser: login, the four pages and their plots, live A/B
updates, deploy, offline assets; each page's screenshot goes to docs/screenshots."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dashboard import INGEST_KEY, Stack, log_in, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_login_refuses_a_wrong_key_and_accepts_an_admin_key(page: Any, stack: Stack) -> None:
    page.goto("/ui/models")
    assert page.url.endswith("/ui/login")
    for wrong in ("not-a-key", INGEST_KEY):
        log_in(page, wrong)
        assert page.url.endswith("/ui/login")
        assert "Wrong key" in page.inner_text("#login-error")
    screenshot(page, "login")
    log_in(page)
    page.wait_for_url("**/ui/models")
    cookie = next(c for c in page.context.cookies() if c["name"] == "tonebridge_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.offsite == []
