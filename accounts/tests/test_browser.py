"""Browser tests: a real Chromium (Debian's /usr/bin/chromium, driven by Playwright) against
pytest-django's live server, real PostgreSQL and Redis.

1. A new person signs up from the landing page, verifies their address from the emailed
   link, lands in their own organization, looks around, switches the theme and signs out.
2. An owner invites a teammate; the teammate opens the emailed link signed out, signs up,
   and arrives in the organization with the invited role.

Every page visited is saved as a full-page screenshot in test-artifacts/screenshots/ so a
person can look at what the tests saw. Each page also has to load without Content
Security Policy violations or JavaScript errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection

if TYPE_CHECKING:
    from accounts.models import Organization

T = TypeVar("T")

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
PASSWORD = "Violet-orbit-1842"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect


# ------------------------------------------------------------------ fixtures


class PageWatch:
    """Collects what goes wrong in a page: CSP violations, console errors, uncaught exceptions,
    and every URL requested (to check the redirect chain)."""

    def __init__(self, page: sync_api.Page) -> None:
        self.problems: list[str] = []
        self.requested: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("request", lambda request: self.requested.append(request.url))

    def _console(self, message: sync_api.ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(f"console {message.type}: {message.text}")

    def assert_clean(self) -> None:
        assert self.problems == [], "the browser reported problems:\n" + "\n".join(self.problems)


@pytest.fixture
def new_page(browser: sync_api.Browser) -> Iterator:
    """Makes fresh browser contexts (separate cookie jars, like separate people) and closes them."""
    contexts: list[sync_api.BrowserContext] = []

    def make() -> tuple[sync_api.Page, PageWatch]:
        context = browser.new_context(viewport=DESKTOP, locale="en-US", color_scheme="light")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        return page, PageWatch(page)

    yield make
    for context in contexts:
        context.close()


# ------------------------------------------------------------------ helpers


def shot(page: sync_api.Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def heading(page: sync_api.Page, text: str | re.Pattern[str]) -> sync_api.Locator:
    return page.get_by_role("heading", level=1, name=text)


def path_of(page: sync_api.Page) -> str:
    return urlsplit(page.url).path


def emails_to(address: str) -> list[mail.EmailMessage]:
    return [message for message in mail.outbox if address in message.to]


def link_in(message: mail.EmailMessage, path_pattern: str) -> str:
    """The path of the first link in an email whose path matches; the host is the test's own."""
    match = re.search(rf"https?://[^\s/]+({path_pattern})", message.body)
    assert match, f"no link matching {path_pattern} in:\n{message.body}"
    return match.group(1)


def link_or_button(page: sync_api.Page, name: str) -> sync_api.Locator:
    """A link by its text, whether it looks like a link or (Pico's role="button") like a button."""
    return page.get_by_role("link", name=name).or_(page.get_by_role("button", name=name)).first


def sign_up(page: sync_api.Page, email: str) -> None:
    expect(heading(page, "Sign Up")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()


def sign_out(page: sync_api.Page) -> None:
    page.locator(".account-menu > summary").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    expect(page.locator(".account-menu")).to_have_count(0)


def no_horizontal_scroll(page: sync_api.Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# ------------------------------------------------------------------ tests


def test_sign_up_verify_and_look_around(live_server, new_page) -> None:
    page, watch = new_page()
    email = "ada.lovelace@example.com"
    local_part = email.split("@")[0]

    # Landing page
    page.goto(live_server.url + "/")
    expect(heading(page, re.compile("crypto trading strategies"))).to_be_visible()
    expect(page).to_have_title(re.compile("AsterAI"))
    expect(page.get_by_role("heading", name="Pattern search over history")).to_be_visible()
    shot(page, "01-landing")

    # Sign up
    link_or_button(page, "Create account").click()
    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    shot(page, "02-signup")
    sign_up(page, email)

    # "Verify your email" page, and the email that was sent
    expect(heading(page, re.compile("Verify Your Email Address", re.I))).to_be_visible()
    shot(page, "03-verification-sent")
    messages = emails_to(email)
    assert len(messages) == 1, [m.subject for m in mail.outbox]
    confirm_path = link_in(messages[0], r"/accounts/confirm-email/\S+")

    # Confirm the address: signs in, /app/ sends the new user to their organization
    page.goto(live_server.url + confirm_path)
    expect(heading(page, "Confirm Email Address")).to_be_visible()
    expect(page.get_by_text(email).first).to_be_visible()
    shot(page, "04-confirm-email")
    page.get_by_role("button", name="Confirm").click()

    org_heading = heading(page, f"{local_part}'s organization")
    expect(org_heading).to_be_visible()
    assert re.fullmatch(r"/o/[a-z0-9-]+/", path_of(page)), page.url
    assert any(urlsplit(url).path == "/app/" for url in watch.requested), "did not pass through /app/"
    org_path = path_of(page)
    expect(page.get_by_text("You are an owner of this organization.")).to_be_visible()
    expect(page.locator(".account-menu summary")).to_contain_text(email)
    shot(page, "05-dashboard")

    # The dashboard must fit a phone screen without sideways scrolling
    page.set_viewport_size(PHONE)
    expect(org_heading).to_be_visible()
    assert no_horizontal_scroll(page), "the dashboard scrolls sideways on a phone"
    shot(page, "06-dashboard-phone")
    page.set_viewport_size(DESKTOP)

    # Members: the owner alone, with the invite form
    page.locator(".org-nav").get_by_role("link", name="Members").click()
    expect(page).to_have_url(re.compile(re.escape(org_path) + "members/$"))
    expect(heading(page, "Members")).to_be_visible()
    member_row = page.locator(".members-table tbody tr")
    expect(member_row).to_have_count(1)
    expect(member_row).to_contain_text(email)
    expect(member_row).to_contain_text("Owner")
    expect(page.get_by_role("button", name="Send invitation")).to_be_visible()
    shot(page, "07-members")

    # Settings: the owner sees the danger zone
    page.locator(".org-nav").get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(re.escape(org_path) + "settings/$"))
    expect(heading(page, "Settings")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value(f"{local_part}'s organization")
    expect(page.get_by_role("heading", name="Danger zone")).to_be_visible()
    shot(page, "08-settings")

    # Theme: switching to dark applies at once and is saved on the account (htmx, 204)
    html = page.locator("html")
    assert page.evaluate("document.documentElement.hasAttribute('data-theme')") is False  # "system": OS decides
    page.locator(".theme-menu > summary").click()
    with page.expect_response(lambda r: urlsplit(r.url).path == "/account/theme/") as response_info:
        page.get_by_role("button", name="Dark").click()
    assert response_info.value.status == 204
    assert response_info.value.request.method == "POST"
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(heading(page, "Settings")).to_be_visible()
    shot(page, "09-settings-dark")
    page.locator(".org-nav").get_by_role("link", name="Dashboard").click()
    expect(org_heading).to_be_visible()
    shot(page, "10-dashboard-dark")
    page.goto(live_server.url + "/account/security/")
    expect(heading(page, "Recent security activity")).to_be_visible()
    expect(page.locator("table")).to_contain_text("Signed in")
    shot(page, "11-security-dark")

    # Sign out: back on the landing page as an anonymous visitor
    sign_out(page)
    assert path_of(page) == "/"
    expect(link_or_button(page, "Create account")).to_be_visible()
    shot(page, "12-signed-out")

    # Anonymous visitors keep their theme choice in the browser
    page.locator(".theme-menu > summary").click()
    page.get_by_role("button", name="Dark").click()
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    shot(page, "13-landing-dark")

    watch.assert_clean()


def outside_event_loop(function: Callable[[], T]) -> T:
    """Run ``function`` in a plain thread. Playwright's loop runs in the test's thread, and code
    that calls async_to_sync (Channels broadcasts on commit) refuses to run beside a loop."""

    def run() -> T:
        try:
            return function()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def create_owner_with_organization(email: str, organization_name: str) -> Organization:
    from allauth.account.models import EmailAddress

    from accounts import services
    from accounts.models import User

    owner = User.objects.create_user(email, PASSWORD)
    EmailAddress.objects.create(user=owner, email=email, verified=True, primary=True)
    return services.organization_create(user=owner, name=organization_name)


def test_invited_teammate_signs_up_and_joins(live_server, new_page) -> None:
    owner_email, teammate_email = "grace@example.com", "katherine@example.com"
    organization = outside_event_loop(lambda: create_owner_with_organization(owner_email, "Orbital Research"))

    # The owner signs in and invites a teammate as a trader
    page, watch = new_page()
    page.goto(live_server.url + "/accounts/login/")
    expect(heading(page, "Sign In")).to_be_visible()
    page.get_by_label("Email").fill(owner_email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    shot(page, "20-sign-in")
    page.get_by_role("button", name="Sign In").click()
    expect(heading(page, "Orbital Research")).to_be_visible()
    assert path_of(page) == f"/o/{organization.slug}/"

    page.locator(".org-nav").get_by_role("link", name="Members").click()
    expect(heading(page, "Members")).to_be_visible()
    page.get_by_label("Email").fill(teammate_email)
    page.get_by_label("Role", exact=True).select_option(label="Trader")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".flash")).to_contain_text(f"Invitation sent to {teammate_email}")
    pending = page.locator("table").filter(has_text=teammate_email)
    expect(pending).to_contain_text("Trader")
    expect(pending.get_by_role("button", name=f"Revoke the invitation to {teammate_email}")).to_be_visible()
    shot(page, "21-members-invited")

    # Dismissing the flash message removes it
    page.get_by_role("button", name="Dismiss").click()
    expect(page.locator(".flash")).to_have_count(0)
    sign_out(page)

    invitations = emails_to(teammate_email)
    assert len(invitations) == 1, [m.subject for m in mail.outbox]
    assert "Orbital Research" in invitations[0].subject
    assert owner_email in invitations[0].body
    assert "Trader" in invitations[0].body
    invitation_path = link_in(invitations[0], r"/invitations/[^\s/]+/")

    # The teammate, signed out in their own browser, opens the link and signs up
    page2, watch2 = new_page()
    page2.goto(live_server.url + invitation_path)
    expect(heading(page2, "Join Orbital Research")).to_be_visible()
    expect(page2.get_by_text(f"{owner_email} invited")).to_be_visible()
    expect(page2.get_by_role("button", name="Decline the invitation")).to_be_visible()
    shot(page2, "22-invitation")
    link_or_button(page2, "Create an account").click()
    expect(page2).to_have_url(re.compile(r"/accounts/signup/$"))
    sign_up(page2, teammate_email)

    # The invited address counts as verified: straight into the organization, as a trader
    expect(heading(page2, "Orbital Research")).to_be_visible()
    assert path_of(page2) == f"/o/{organization.slug}/"
    expect(page2.get_by_text("You are a trader of this organization.")).to_be_visible()
    shot(page2, "23-teammate-dashboard")

    page2.locator(".org-nav").get_by_role("link", name="Members").click()
    expect(heading(page2, "Members")).to_be_visible()
    rows = page2.locator(".members-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=owner_email)).to_contain_text("Owner")
    expect(rows.filter(has_text=teammate_email)).to_contain_text("Trader")
    # A trader sees the list only: no role changes, removals or invitations
    expect(page2.locator(".members-table select")).to_have_count(0)
    expect(page2.get_by_role("button", name="Send invitation")).to_have_count(0)
    expect(page2.locator(".org-nav").get_by_role("link", name="Settings")).to_have_count(0)
    expect(page2.get_by_role("link", name="Leave organization")).to_be_visible()
    shot(page2, "24-teammate-members")

    # Only one organization: signing up through an invitation does not create another
    page2.locator(".org-switcher > summary").click()
    switcher = page2.locator(".org-switcher ul")
    expect(switcher.get_by_role("link", name=re.compile("Orbital Research"))).to_be_visible()
    expect(switcher.locator("a .org-name")).to_have_count(1)

    watch.assert_clean()
    watch2.assert_clean()
