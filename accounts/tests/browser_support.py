"""Shared by the browser tests (loaded as a pytest plugin from the root conftest): Debian's
Chromium launched through Playwright, skipped loudly when it is not installed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def _allow_database_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an event loop in this thread, and Django refuses database
    access from a thread with a running loop unless told it is safe (it is here: the test and
    its database work are one thread; the live server has its own). Module-scoped and set
    first, so it covers the database teardown after each test, and it is restored afterwards
    so no other test (or a subprocess they start) inherits it."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser(_allow_database_beside_playwright: None) -> Iterator[sync_api.Browser]:
    if not CHROMIUM.exists():
        pytest.skip(
            "#### BROWSER TEST SKIPPED: /usr/bin/chromium is not installed. "
            "Install Debian's chromium (sudo apt-get install -y chromium; `make test` does it when it can). ####"
        )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PageWatch:
    """Console errors, uncaught exceptions and CSP violations (the browser's own
    ``securitypolicyviolation`` events as well as its console reports)."""

    def __init__(self, page: sync_api.Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.add_init_script(
            "window.__cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', function (e) {"
            "  window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')"
            "    + (e.sample ? ' (' + e.sample + ')' : ''));"
            "});"
        )

    def _console(self, message: sync_api.ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(f"console {message.type}: {message.text}")

    def assert_clean(self) -> None:
        violations = self.page.evaluate("window.__cspViolations")
        problems = self.problems + [f"CSP violation: {violation}" for violation in violations]
        assert problems == [], "the browser reported problems:\n" + "\n".join(problems)
