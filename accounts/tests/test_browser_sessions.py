"""The sessions page in a real Chromium: a person signed in on two browsers sees both, ends the
other one from the first, and the other browser is signed out. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from accounts.tests.browser_support import PageWatch
from accounts.tests.factories import PASSWORD, UserFactory

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect


LAPTOP, PHONE = "Laptop-Browser/1.0", "Phone-Browser/2.0"


@pytest.fixture
def two_devices(browser: sync_api.Browser) -> Iterator[list[sync_api.BrowserContext]]:
    """Two browser contexts (cookie jars) with their own user agents, like a laptop and a phone."""
    devices = [browser.new_context(locale="en-US", user_agent=agent) for agent in (LAPTOP, PHONE)]
    for device in devices:
        device.set_default_timeout(15_000)
    yield devices
    for device in devices:
        device.close()


def _sign_in(page: sync_api.Page, base_url: str, email: str) -> None:
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).not_to_have_url(base_url + "/accounts/login/")


def test_a_person_ends_their_session_on_another_browser(live_server, two_devices) -> None:
    user = UserFactory()
    laptop, phone = (device.new_page() for device in two_devices)
    laptop_watch, phone_watch = PageWatch(laptop), PageWatch(phone)
    _sign_in(laptop, live_server.url, user.email)
    _sign_in(phone, live_server.url, user.email)

    laptop.goto(live_server.url + "/account/security/")
    laptop.get_by_role("navigation", name="Account settings").get_by_role("link", name="Sessions").click()
    rows = laptop.locator("table.sessions-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=LAPTOP)).to_contain_text("This browser")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    laptop.screenshot(path=str(SCREENSHOTS / "account-sessions.png"), full_page=True)

    rows.filter(has_text=PHONE).get_by_role("button", name="End").click()
    expect(laptop.get_by_text("That session is signed out.")).to_be_visible()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(LAPTOP)

    phone.goto(live_server.url + "/app/")
    expect(phone).to_have_url(live_server.url + "/accounts/login/?next=/app/")
    laptop_watch.assert_clean()
    phone_watch.assert_clean()
