"""Pattern search in a real Chromium (Debian's, driven by Playwright) against the live server:
a viewer signs in, searches a public corpus by text, sees days with their headlines, opens the
analysis of the same query (histogram and similarity timeline drawn) and the price chart with
astro overlays. No page may log a JavaScript error or a Content-Security-Policy violation.
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.browser_support import PageWatch
from accounts.tests.factories import PASSWORD, MembershipFactory

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", color_scheme="light")
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


def shot(page: sync_api.Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_viewer_searches_analyses_and_charts_a_public_corpus(live_server, corpora, page) -> None:
    membership = MembershipFactory(role=Role.VIEWER)
    org, user = membership.organization, membership.user
    watch = PageWatch(page)

    page.goto(live_server.url + reverse("account_login"))
    page.locator('input[name="login"]').fill(user.email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('form button[type="submit"]').click()
    expect(page.locator(".account-menu")).to_be_visible()

    # The corpora, from the organization's navigation.
    page.goto(live_server.url + reverse("org_dashboard", args=[org.slug]))
    page.locator(".org-nav").get_by_role("link", name="Patterns").click()
    expect(page.get_by_role("heading", level=1, name="Pattern search")).to_be_visible()
    expect(page.get_by_role("link", name=corpora.crypto.name)).to_be_visible()
    shot(page, "60-patterns-corpora")

    # Search the crypto news corpus by text.
    page.get_by_role("link", name=corpora.crypto.name).click()
    expect(page.get_by_role("heading", level=1, name=corpora.crypto.name)).to_be_visible()
    expect(page.get_by_role("heading", name="Status and coverage")).to_be_visible()
    expect(page.locator(".headline-table tbody tr")).to_have_count(25)
    shot(page, "61-patterns-corpus")
    page.locator(".corpus-tabs").get_by_role("link", name="Search").click()
    page.get_by_label("Text", exact=True).fill("bitcoin exchange hacked and funds stolen")
    page.get_by_label("Results").fill("5")
    page.get_by_role("button", name="Search").click()
    results = page.locator("article.day-match")
    expect(results).to_have_count(5)
    expect(results.first.locator(".match-headlines li").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Searches today \(UTC\): 1 of"))).to_be_visible()
    shot(page, "62-patterns-search-results")

    # The analysis of the same query: statistics, histogram, similarity timeline, heatmap.
    page.get_by_role("button", name="Analyse these analogs →").click()
    expect(page.get_by_role("heading", name=re.compile("analogs against the baseline"))).to_be_visible()
    histogram = page.locator("svg.figure-svg")
    expect(histogram).to_be_visible()
    expect(histogram.locator("rect.hist-analog")).to_have_count(20)
    timeline = page.locator("#similarity-timeline")
    expect(timeline.locator("canvas").first).to_be_visible()
    expect(page.locator("#similarity-timeline + .chart-status")).to_contain_text("analogs marked")
    box = timeline.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100
    expect(page.locator("table.heatmap").first).to_be_visible()
    shot(page, "63-patterns-analysis")

    # The walk-forward evaluation from the form at the foot of the analysis page.
    page.get_by_role("button", name="Run walk-forward").click()
    expect(page.get_by_role("heading", name=re.compile(r"\d+ periods of 5 bars"))).to_be_visible()
    expect(page.locator("#equity-chart canvas").first).to_be_visible()
    expect(page.locator("#equity-chart + .chart-status")).to_contain_text("periods")
    shot(page, "64-patterns-walk-forward")

    # The price chart of the BTC corpus with Mercury retrograde lanes and moon markers.
    page.goto(live_server.url + reverse("patterns_chart", args=[org.slug, corpora.btc.pk]))
    chart = page.locator("#price-chart")
    expect(chart.locator("canvas").first).to_be_visible()
    expect(page.locator("#price-chart + .chart-status")).to_contain_text("daily candles")
    expect(page.locator("#price-chart + .chart-status")).to_contain_text("mercury retrograde")
    shot(page, "65-patterns-price-chart")

    watch.assert_clean()
