"""The dashboard in a real browser: login, the four pages and their plots, live A/B
updates, deploy, offline assets; each page's screenshot goes to docs/screenshots."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.dashboard import INGEST_KEY, Stack, log_in, outcomes, screenshot, wait_for

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


def plotted(page: Any, selector: str, at_least: int = 1) -> int:
    """Wait until the plots under ``selector`` hold ``at_least`` data points; their count."""
    points = page.locator(f"{selector} svg.plot .pt")
    points.nth(at_least - 1).wait_for(state="attached")
    return int(points.count())


def test_the_models_page_shows_versions_lineage_and_metrics(
    page: Any, seeded: dict[str, Any]
) -> None:
    log_in(page)
    card = page.locator('section[data-name="tone-formal"]')
    card.wait_for()
    trained = card.locator(f'tr[data-model-id="{seeded["formal"]["trained"]}"]')
    assert "48 feedback events" in trained.inner_text()
    assert "chrf: 47.5 (+6.5)" in trained.inner_text()  # against the base version it improves
    assert card.locator('tr[data-status="production"]').count() == 1
    page.fill("#search", "casual")
    page.locator('section[data-name="tone-formal"]').wait_for(state="detached")
    assert page.locator('section[data-name="tone-casual"]').count() == 1
    page.fill("#search", "tone-")
    page.locator('section[data-name="tone-formal"]').wait_for()
    screenshot(page, "models")
    assert page.offsite == []


def test_the_feedback_page_plots_ratings_and_windows_and_diffs_corrections(
    page: Any, seeded: dict[str, Any]
) -> None:
    log_in(page)
    page.goto("/ui/feedback")
    card = f'section[data-model-id="{seeded["formal"]["base"]}"]'
    for kind in ("all", "formal", "polite"):
        assert plotted(page, f'{card} .type[data-type="{kind}"]', 5) >= 5
    page.locator(f"{card} .diff ins").first.wait_for()
    diff = page.locator(f"{card} .diff").first.inner_text()
    assert "Could you" in diff and "Please" in diff
    screenshot(page, "feedback")
    assert page.offsite == []


def test_the_training_page_plots_the_live_loss_curve(page: Any, seeded: dict[str, Any]) -> None:
    log_in(page)
    page.goto("/ui/training")
    card = f'section[data-job-id="{seeded["job_id"]}"]'
    assert plotted(page, card, 12) == 12  # one point per TrainingStatus with a loss
    assert "feedback since" in page.locator(card).inner_text()
    assert page.locator(f'{card} button[data-action="stop"]').count() == 1
    screenshot(page, "training")
    assert page.offsite == []


def _samples(page: Any, test_id: str) -> int:
    text = page.locator(f'section[data-test-id="{test_id}"] .samples').inner_text()
    return sum(int(part.rsplit(":", 1)[1]) for part in text.split("·") if ":" in part)


def test_the_ab_page_updates_while_outcomes_stream_in(
    page: Any, stack: Stack, seeded: dict[str, Any]
) -> None:
    """Outcomes posted while the page is open reach it through the worker, no reload."""
    test_id, arms = seeded["test_id"], seeded["arms"]
    log_in(page)
    page.goto("/ui/abtests")
    card = f'section[data-test-id="{test_id}"]'
    plotted(page, card)
    seen = [_samples(page, test_id)]
    page.evaluate("window.notReloaded = true")
    for batch in range(1, 4):
        stack.post("/outcomes", {"events": outcomes(test_id, arms, 40 * batch, 40)})
        total = 40 * (batch + 1)
        wait_for(lambda n=total: _samples(page, test_id) >= n, 60, "the page to update")
        seen.append(_samples(page, test_id))
    assert seen == sorted(seen) and seen[-1] >= 160
    assert page.evaluate("window.notReloaded") is True
    # The samples plot gained a point per update; the effect has its interval band.
    assert page.locator(f"{card} figure").nth(0).locator(".pt").count() >= 2 * len(seen)
    assert page.locator(f"{card} svg.plot polygon.band").count() >= 1
    assert page.locator(f"{card} .kv").first.inner_text().count("SRM p") == 1
    screenshot(page, "abtests")
    assert page.offsite == []


def test_the_deploy_button_moves_production(
    page: Any, stack: Stack, seeded: dict[str, Any]
) -> None:
    """Deploy asks first, goes to the registry (the trainer process) and the page follows."""
    trained = seeded["casual"]["trained"]
    log_in(page)
    row = page.locator(f'tr[data-model-id="{trained}"]')
    row.locator('button[data-action="deploy"]').click()
    page.locator("#confirm").wait_for()
    page.click("#confirm button[value=cancel]")
    assert stack.http.get(f"/models/{trained}").json()["status"] == "draft"
    row.locator('button[data-action="deploy"]').click()
    page.click("#confirm-ok")
    page.locator(f'tr[data-model-id="{trained}"][data-status="production"]').wait_for(
        timeout=60_000
    )
    casual = page.locator('section[data-name="tone-casual"]')
    assert casual.locator('tr[data-status="production"]').count() == 1
    assert stack.http.get(f"/models/{seeded['casual']['base']}").json()["status"] == "archived"
    row.locator('button[data-action="rollback"]').click()
    page.click("#confirm-ok")
    base = seeded["casual"]["base"]
    page.locator(f'tr[data-model-id="{base}"][data-status="production"]').wait_for(timeout=60_000)


def test_state_changes_by_session_need_the_csrf_token(
    page: Any, stack: Stack, seeded: dict[str, Any]
) -> None:
    log_in(page)
    page.wait_for_url("**/ui/models")
    cookie = next(c for c in page.context.cookies() if c["name"] == "tonebridge_session")
    jar = {"tonebridge_session": cookie["value"]}
    with httpx.Client(base_url=stack.url, cookies=jar) as browser_like:
        assert browser_like.get("/models").status_code == 200  # reads: the cookie is enough
        path = f"/ab-test/{seeded['test_id']}/stop"
        refused = browser_like.post(path, headers={"X-CSRF-Token": "forged"})
        assert refused.status_code == 403
        assert browser_like.post(path).status_code == 403
        token = browser_like.get("/ui/api/session").json()["csrf_token"]
        assert browser_like.post("/ui/logout", headers={"X-CSRF-Token": token}).status_code == 204
    with httpx.Client(base_url=stack.url, cookies={"tonebridge_session": "a.1.b.c"}) as forged:
        assert forged.get("/models").status_code == 401


def test_bad_dashboard_requests_get_a_clear_4xx(stack: Stack, seeded: dict[str, Any]) -> None:
    assert stack.http.get("/ui/api/models", params={"limit": 0}).status_code == 422
    assert stack.http.get("/ui/api/abtests", params={"offset": -1}).status_code == 422
    assert stack.http.get("/ui/api/training", params={"q": "x" * 201}).status_code == 422
    with httpx.Client(base_url=stack.url) as anonymous:
        assert anonymous.get("/ui/api/models").status_code == 401
        assert anonymous.get("/ui/api/session").status_code == 401
        assert anonymous.get("/ui/nowhere").status_code == 404
        assert anonymous.get("/ui/models").status_code == 303  # to the login page
        assert anonymous.post("/ui/login", data={"key": "k" * 1001}).status_code == 422
        assert anonymous.post("/ui/login", data={}).status_code == 401


def test_the_api_docs_work_offline(page: Any) -> None:
    page.goto("/docs")
    page.locator(".swagger-ui .opblock").first.wait_for()
    assert page.locator(".swagger-ui .opblock").count() > 20
    screenshot(page, "docs")
    page.goto("/redoc")
    page.locator("redoc-wrap, .api-content").first.wait_for()
    assert page.offsite == []


def test_a_thousand_models_are_paged_and_searched(page: Any, seeded: dict[str, Any]) -> None:
    log_in(page)
    page.locator("section[data-name]").nth(19).wait_for()
    assert page.locator("section[data-name]").count() == 20
    assert page.inner_text("#pageinfo") == "1–20"
    page.click("#next")
    page.locator("#pageinfo", has_text="21–40").wait_for()
    assert page.locator('section[data-name="zz-load-0018"]').count() == 1  # names in order
    page.fill("#search", "LOAD-0777")
    page.locator('section[data-name="zz-load-0777"]').wait_for()
    page.locator("#pageinfo", has_text="1–1").wait_for()
    assert page.locator("section[data-name]").count() == 1
    assert page.locator("#next").is_disabled()


def test_the_stop_buttons_stop_a_job_and_an_ab_test(
    page: Any, stack: Stack, seeded: dict[str, Any]
) -> None:
    """Last in the module: it ends the A/B test the other tests watch."""
    log_in(page)
    page.goto("/ui/training")
    job = page.locator(f'section[data-job-id="{seeded["job_id"]}"]')
    job.locator('button[data-action="stop"]').click()
    page.click("#confirm-ok")
    job.locator(".badge.stopping").wait_for()
    assert stack.http.get(f"/train/{seeded['job_id']}/status").json()["stop_requested"] is True
    page.goto("/ui/abtests")
    test = page.locator(f'section[data-test-id="{seeded["test_id"]}"]')
    test.locator('button[data-action="stop"]').click()
    page.click("#confirm-ok")
    test.locator(".badge.completed").wait_for(timeout=60_000)
    assert "stopped" in test.locator(".verdict").inner_text()
    assert test.locator('button[data-action="stop"]').count() == 0
