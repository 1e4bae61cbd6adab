"""The corpus pages: the list with coverage, creating a private corpus, uploads that keep good
rows and list rejected ones by line, events by hand, indexing status, roles and tenancy."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.models import AuditEvent
from patterns.models import Corpus, Headline
from patterns.services.corpora import corpus_create

pytestmark = pytest.mark.django_db

CORPUS_URLS_GET = [
    "patterns_corpus_detail",
    "patterns_corpus_status",
    "patterns_corpus_delete",
    "patterns_search",
    "patterns_analysis",
    "patterns_walk_forward",
    "patterns_chart",
    "patterns_chart_data",
]
CORPUS_URLS_POST = [
    "patterns_corpus_upload",
    "patterns_corpus_event_add",
    "patterns_corpus_reindex",
    "patterns_corpus_delete",
]
# Line 1 is the header; lines 3, 4 and 6 are bad: a date that is no date, an empty headline,
# and a day before 1900.
MIXED_CSV = (
    "date,headline,source\n"
    "2021-03-01,Central bank raises rates to fight inflation,Wire\n"
    "not-a-date,This row has no usable date,Wire\n"
    "2021-03-02,,Wire\n"
    "2021-03-03,Stocks rally as earnings beat forecasts,Desk\n"
    "1850-01-01,Far too early for the ephemeris,Wire\n"
)


def _url(name: str, org, **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


def _client(client_for, team, role: str) -> Client:
    return client_for(team.user(role))


@pytest.fixture
def private(team):
    return corpus_create(organization=team.org, user=team.owner, name="Desk notes", description="Our own events")


def test_the_corpora_page_shows_public_corpora_with_their_coverage(team, corpora, client_for):
    response = _client(client_for, team, "viewer").get(_url("patterns_corpus_list", team.org))
    assert response.status_code == 200
    html = response.content.decode()
    for corpus in (corpora.btc, corpora.crypto, corpora.reddit):
        assert corpus.name in html
        assert _url("patterns_search", team.org, corpus_id=corpus.pk) in html
    # The crypto corpus has news and prices: both lanes are drawn inside its day span.
    crypto = corpora.crypto
    assert f"<strong>{crypto.news_day_count}</strong> with news" in html
    assert f"<strong>{crypto.headline_count}</strong> headlines" in html
    assert html.count('class="coverage-news"') >= 2  # crypto and reddit have news, btc has none
    assert f"{crypto.news_from:%Y-%m-%d} → {crypto.news_to:%Y-%m-%d}" in html
    assert "New private corpus" not in html  # a viewer cannot create one


def test_the_coverage_bar_places_the_price_span_inside_the_day_span(team, corpora, client_for):
    html = _client(client_for, team, "viewer").get(
        _url("patterns_corpus_detail", team.org, corpus_id=corpora.crypto.pk)
    )
    corpus = corpora.crypto
    span = (corpus.days_to - corpus.days_from).days + 1
    x = 100 * (corpus.market_from - corpus.days_from).days / span
    width = 100 * ((corpus.market_to - corpus.market_from).days + 1) / span
    match = re.search(r'class="coverage-prices" x="([\d.]+)" y="0" width="([\d.]+)"', html.content.decode())
    assert match, "no price lane"
    assert float(match.group(1)) == pytest.approx(x, abs=0.001)
    assert float(match.group(2)) == pytest.approx(width, abs=0.001)


def test_a_trader_creates_a_private_corpus(team, other_team, client_for):
    client = _client(client_for, team, "trader")
    response = client.post(_url("patterns_corpus_create", team.org), {"name": "Fed watch", "description": "Rates"})
    corpus = Corpus.all_objects.get(organization=team.org, name="Fed watch")
    assert response.status_code == 302
    assert response["Location"] == _url("patterns_corpus_detail", team.org, corpus_id=corpus.pk)
    assert corpus.created_by == team.trader and not corpus.has_market
    assert AuditEvent.objects.for_org(team.org).filter(action="patterns.corpus_created").exists()
    listed = client.get(_url("patterns_corpus_list", team.org)).content.decode()
    assert "Fed watch" in listed and "New private corpus" in listed
    assert (
        "Fed watch"
        not in client_for(other_team.owner).get(_url("patterns_corpus_list", other_team.org)).content.decode()
    )


def test_a_private_corpus_can_follow_a_stored_daily_series(team, corpora, client_for):
    client = _client(client_for, team, "trader")
    market = f"{corpora.btc.market_exchange}|{corpora.btc.market_symbol}"
    assert f'value="{market}"' in client.get(_url("patterns_corpus_list", team.org)).content.decode()
    response = client.post(_url("patterns_corpus_create", team.org), {"name": "BTC desk", "market": market})
    assert response.status_code == 302
    corpus = Corpus.all_objects.get(organization=team.org, name="BTC desk")
    assert (corpus.market_exchange, corpus.market_symbol) == (corpora.btc.market_exchange, "BTC/USDT")
    assert corpus.status == Corpus.Status.INDEXING  # queued for its first indexing run


def test_creating_a_corpus_with_bad_input_shows_errors(team, private, client_for):
    client = _client(client_for, team, "trader")
    response = client.post(_url("patterns_corpus_create", team.org), {"name": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    response = client.post(_url("patterns_corpus_create", team.org), {"name": "Desk notes"})
    assert response.status_code == 400
    assert "Already used in this organization." in response.content.decode()
    response = client.post(_url("patterns_corpus_create", team.org), {"name": "X", "market": "nowhere|NOPE"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert Corpus.all_objects.filter(organization=team.org).count() == 1


def test_an_upload_keeps_the_good_rows_and_lists_the_rejected_lines(team, private, client_for):
    client = _client(client_for, team, "trader")
    upload = SimpleUploadedFile("events.csv", MIXED_CSV.encode(), content_type="text/csv")
    response = client.post(_url("patterns_corpus_upload", team.org, corpus_id=private.pk), {"file": upload})
    assert response.status_code == 200
    html = response.content.decode()
    stored = sorted(Headline.all_objects.filter(corpus=private).values_list("day", "text"))
    assert [(str(day), text) for day, text in stored] == [
        ("2021-03-01", "Central bank raises rates to fight inflation"),
        ("2021-03-03", "Stocks rally as earnings beat forecasts"),
    ]
    report = dict(re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td>', html))
    assert report == {"Rows read": "5", "Accepted": "2", "Inserted": "2", "Already there": "0", "Rejected": "3"}
    rejected = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", html)
    assert [line for line, _ in rejected] == ["3", "4", "6"]
    assert "is not a date" in rejected[0][1]
    assert "empty" in rejected[1][1]
    assert "outside the supported range" in rejected[2][1]
    # The new headlines are listed, and the corpus is queued for indexing (the panel polls).
    assert "Stocks rally as earnings beat forecasts" in html
    assert 'hx-trigger="every 2s"' in html

    again = SimpleUploadedFile("events.csv", MIXED_CSV.encode(), content_type="text/csv")
    html = client.post(_url("patterns_corpus_upload", team.org, corpus_id=private.pk), {"file": again}).content.decode()
    report = dict(re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td>', html))
    assert (report["Inserted"], report["Already there"]) == ("0", "2")
    assert Headline.all_objects.filter(corpus=private).count() == 2


def test_an_unreadable_upload_is_refused_with_a_reason(team, private, client_for):
    client = _client(client_for, team, "trader")
    url = _url("patterns_corpus_upload", team.org, corpus_id=private.pk)
    for name, content, reason in (
        ("empty.csv", b"   ", "The file is empty."),
        ("wrong.csv", b"when,what\n2021-01-01,x\n", "No date column"),
        ("broken.json", b'[{"date": "2021-01-01", ', "not valid JSON"),
    ):
        response = client.post(url, {"file": SimpleUploadedFile(name, content)})
        assert response.status_code == 400, name
        assert reason in response.content.decode(), name
    assert client.post(url, {}).status_code == 400
    assert not Headline.all_objects.filter(corpus=private).exists()


def test_a_trader_adds_an_event_by_hand(team, private, client_for):
    client = _client(client_for, team, "trader")
    url = _url("patterns_corpus_event_add", team.org, corpus_id=private.pk)
    response = client.post(url, {"day": "2022-05-09", "text": "Stablecoin loses its peg", "source": "Desk"})
    assert response.status_code == 302
    headline = Headline.all_objects.get(corpus=private)
    assert (str(headline.day), headline.text, headline.source) == ("2022-05-09", "Stablecoin loses its peg", "Desk")
    page = client.get(_url("patterns_corpus_detail", team.org, corpus_id=private.pk)).content.decode()
    assert "Stablecoin loses its peg" in page

    response = client.post(url, {"day": "1850-01-01", "text": "Before the ephemeris"})
    assert response.status_code == 400
    assert "outside the supported range" in response.content.decode()
    response = client.post(url, {"day": "2022-05-10", "text": ""})
    assert response.status_code == 400
    assert Headline.all_objects.filter(corpus=private).count() == 1


def test_a_viewer_cannot_change_a_corpus(team, private, client_for):
    client = _client(client_for, team, "viewer")
    page = client.get(_url("patterns_corpus_detail", team.org, corpus_id=private.pk)).content.decode()
    assert "Upload headlines" not in page and "Re-index" not in page
    upload = SimpleUploadedFile("events.csv", MIXED_CSV.encode(), content_type="text/csv")
    assert (
        client.post(_url("patterns_corpus_upload", team.org, corpus_id=private.pk), {"file": upload}).status_code == 403
    )
    body = {"day": "2022-05-09", "text": "Viewer tries"}
    assert client.post(_url("patterns_corpus_event_add", team.org, corpus_id=private.pk), body).status_code == 403
    assert client.post(_url("patterns_corpus_reindex", team.org, corpus_id=private.pk)).status_code == 403
    assert client.post(_url("patterns_corpus_create", team.org), {"name": "Viewer's"}).status_code == 403
    assert not Headline.all_objects.filter(corpus=private).exists()
    assert Corpus.all_objects.filter(organization=team.org).count() == 1


def test_only_an_admin_deletes_a_private_corpus(team, private, client_for):
    url = _url("patterns_corpus_delete", team.org, corpus_id=private.pk)
    assert _client(client_for, team, "trader").post(url).status_code == 403
    admin = _client(client_for, team, "admin")
    assert "Delete Desk notes" in admin.get(url).content.decode()
    response = admin.post(url)
    assert response.status_code == 302 and response["Location"] == _url("patterns_corpus_list", team.org)
    assert not Corpus.all_objects.filter(pk=private.pk).exists()
    assert AuditEvent.objects.for_org(team.org).filter(action="patterns.corpus_deleted").exists()


def test_reindex_queues_an_indexing_run(team, private, client_for):
    response = _client(client_for, team, "trader").post(_url("patterns_corpus_reindex", team.org, corpus_id=private.pk))
    assert response.status_code == 302
    private.refresh_from_db()
    assert (private.status, private.status_message) == (Corpus.Status.INDEXING, "Queued")


def test_another_organizations_private_corpus_is_not_found_on_every_page(team, other_team, private, client_for):
    intruder = client_for(other_team.owner)
    for name in CORPUS_URLS_GET:
        response = intruder.get(_url(name, other_team.org, corpus_id=private.pk))
        assert response.status_code == 404, name
    upload = SimpleUploadedFile("events.csv", MIXED_CSV.encode(), content_type="text/csv")
    bodies = {
        "patterns_corpus_upload": {"file": upload},
        "patterns_corpus_event_add": {"day": "2021-01-01", "text": "x"},
    }
    for name in CORPUS_URLS_POST:
        response = intruder.post(_url(name, other_team.org, corpus_id=private.pk), bodies.get(name, {}))
        assert response.status_code == 404, name
    assert Corpus.all_objects.filter(pk=private.pk).exists()
    assert not Headline.all_objects.filter(corpus=private).exists()


def test_public_corpora_are_read_only_and_vanish_when_disabled(team, corpora, client_for, settings):
    owner = client_for(team.owner)
    crypto = corpora.crypto
    page = owner.get(_url("patterns_corpus_detail", team.org, corpus_id=corpora.reddit.pk)).content.decode()
    assert corpora.reddit.license_note and escape(corpora.reddit.license_note) in page
    assert "Upload headlines" not in page
    body = {"day": "2022-01-03", "text": "Tenant tries to write"}
    assert owner.post(_url("patterns_corpus_event_add", team.org, corpus_id=crypto.pk), body).status_code == 404
    assert owner.post(_url("patterns_corpus_delete", team.org, corpus_id=crypto.pk)).status_code == 404
    settings.PATTERNS_PUBLIC_CORPORA = False
    assert owner.get(_url("patterns_corpus_detail", team.org, corpus_id=crypto.pk)).status_code == 404
    assert crypto.name not in owner.get(_url("patterns_corpus_list", team.org)).content.decode()


def test_the_status_panel_polls_while_indexing_and_stops_when_ready(team, private, client_for):
    client = _client(client_for, team, "viewer")
    url = _url("patterns_corpus_status", team.org, corpus_id=private.pk)
    Corpus.all_objects.filter(pk=private.pk).update(status=Corpus.Status.INDEXING, progress_done=30, progress_total=120)
    html = client.get(url).content.decode()
    assert f'hx-get="{url}"' in html and 'hx-trigger="every 2s"' in html
    assert '<progress value="30" max="120"' in html and "30 of 120 done" in html
    Corpus.all_objects.filter(pk=private.pk).update(status=Corpus.Status.READY)
    html = client.get(url).content.decode()
    assert "hx-trigger" not in html and "Ready" in html


def test_the_corpus_page_pages_through_headlines(team, corpora, client_for):
    client = _client(client_for, team, "viewer")
    url = _url("patterns_corpus_detail", team.org, corpus_id=corpora.crypto.pk)
    newest = Headline.all_objects.filter(corpus=corpora.crypto).order_by("-day", "id")
    first, second = client.get(url).content.decode(), client.get(url + "?page=2").content.decode()
    assert escape(newest[0].text) in first and escape(newest[25].text) not in first
    assert escape(newest[25].text) in second
    assert "Page 2 of" in second
