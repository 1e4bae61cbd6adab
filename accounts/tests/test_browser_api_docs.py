"""The API documentation pages in a real Chromium, under the site's Content-Security-Policy:
Swagger UI at /api/docs/ and Redoc at /api/redoc/ render the operations with no CSP violation
and no JavaScript error. Screenshots go to test-artifacts/screenshots/.

The CSP stays strict everywhere else: only /api/redoc/ gets Redoc's few extra allowances
(asterweb/api.py, REDOC_CSP), and no page allows inline script or 'unsafe-inline' styles.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from accounts.tests.browser_support import PageWatch
from asterweb.api import REDOC_CSP

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
# Operations the docs must list, by the summaries accounts/api.py gives them.
OPERATIONS = ["Create an API key", "Rotate an API key", "List members", "Invite someone by email", "Who am I"]
# Redoc's side menu always shows Redocly's logo from its CDN (allowed by REDOC_CSP); tests have
# no internet, so the browser gets this stand-in instead of a network error.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
STAND_IN_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[tuple[sync_api.Page, PageWatch]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page, PageWatch(page)
    context.close()


def shot(page: sync_api.Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def _directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_swagger_ui_lists_the_operations_under_the_csp(live_server, page) -> None:
    page, watch = page
    response = page.goto(live_server.url + "/api/docs/")
    csp = _directives(response.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("AsterAI API")
    for summary in OPERATIONS:
        expect(page.locator(".opblock-summary-description", has_text=summary).first).to_be_visible()
    shot(page, "40-api-docs-swagger")

    # Opening an operation renders its body schema and example, which is more of the UI's code.
    page.locator(".opblock-summary-description", has_text="Create an API key").first.click()
    expect(page.get_by_text("The full key is in the response's").first).to_be_visible()
    shot(page, "41-api-docs-swagger-create-key")
    watch.assert_clean()


def test_redoc_lists_the_operations_under_the_csp(live_server, page) -> None:
    page, watch = page
    page.route(REDOCLY_LOGO, lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=STAND_IN_SVG))
    response = page.goto(live_server.url + "/api/redoc/")
    csp = _directives(response.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp["style-src"]

    menu = page.locator(".menu-content")
    # Redoc renders the whole (large) schema before it shows anything: give it time on a busy box.
    expect(menu.get_by_text(OPERATIONS[0], exact=True).first).to_be_attached(timeout=30_000)
    for summary in OPERATIONS:
        expect(menu.get_by_text(summary, exact=True).first).to_be_attached()
    expect(page.get_by_role("heading", name="Create an API key").first).to_be_visible()
    # Search runs in Redoc's blob: worker.
    page.get_by_placeholder("Search...").fill("rotate")
    expect(page.locator("[role=search] li", has_text="Rotate an API key").first).to_be_visible()
    shot(page, "42-api-docs-redoc")
    watch.assert_clean()


def test_only_the_redoc_page_relaxes_the_csp(db) -> None:
    client = Client()
    strict = _directives(client.get("/api/docs/")["Content-Security-Policy"])
    redoc = _directives(client.get("/api/redoc/")["Content-Security-Policy"])
    landing = _directives(client.get("/")["Content-Security-Policy"])
    assert strict == landing
    assert "worker-src" not in landing
    for directive, extra in REDOC_CSP.items():
        assert set(extra) <= set(redoc[directive])
        assert not set(extra) - {"'self'"} & set(landing.get(directive, []))
    for policy in (strict, redoc, landing):
        assert policy["script-src"] == ["'self'"]
        assert "'unsafe-inline'" not in policy["style-src"]
        assert "'unsafe-eval'" not in policy["script-src"]
