"""The pattern-search API: tenancy of private corpora and of the search cache, the daily
quota, uploads that keep good rows, incremental indexing, and bad input."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.tests.api_helpers import assert_error, call, issue_key, key_client
from patterns.models import Corpus, DayVector, Headline
from patterns.services.corpora import corpus_create
from patterns.services.indexing import corpus_index

pytestmark = pytest.mark.django_db


def _url(name: str, org, **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


def _client(team, role: str = "trader") -> Client:
    return key_client(issue_key(team.org, team.user(role)))


@pytest.fixture
def private(team):
    return corpus_create(organization=team.org, user=team.owner, name="Desk notes")


def test_corpora_list_shows_public_corpora_with_coverage_and_only_own_private_ones(team, other_team, corpora, private):
    corpus_create(organization=other_team.org, user=other_team.owner, name="Bravo secrets")
    listed = _client(team, "viewer").get(_url("corpus-list", team.org)).json()
    names = [item["name"] for item in listed]
    assert "Desk notes" in names and "Bravo secrets" not in names
    crypto = next(item for item in listed if item["id"] == corpora.crypto.pk)
    assert crypto["public"] is True and crypto["status"] == "ready"
    assert crypto["coverage"]["news_days"] == corpora.crypto.news_day_count > 0
    assert crypto["coverage"]["market_from"] == str(corpora.crypto.market_from)


def test_public_corpora_disappear_when_the_deployment_turns_them_off(team, corpora, settings):
    settings.PATTERNS_PUBLIC_CORPORA = False
    client = _client(team, "viewer")
    assert all(not item["public"] for item in client.get(_url("corpus-list", team.org)).json())
    response = call(client, "post", _url("corpus-search", team.org, corpus_id=corpora.btc.pk), {"day": "2021-01-04"})
    assert_error(response, 404, "not_found")


def test_another_organizations_private_corpus_is_not_found_everywhere(team, other_team, private):
    client = _client(other_team, "owner")
    for name, method, body in (
        ("corpus-detail", "get", None),
        ("corpus-detail", "delete", None),
        ("corpus-headlines", "get", None),
        ("corpus-headlines", "post", {"headlines": [{"day": "2020-01-01", "text": "Injected"}]}),
        ("corpus-reindex", "post", None),
        ("corpus-search", "post", {"text": "anything at all"}),
        ("corpus-headline-search", "post", {"text": "anything at all"}),
    ):
        assert_error(call(client, method, _url(name, other_team.org, corpus_id=private.pk), body), 404)
    assert Corpus.all_objects.filter(pk=private.pk).exists()
    assert not Headline.all_objects.filter(corpus=private).exists()


def test_public_corpora_are_read_only_for_tenants(team, corpora):
    client = _client(team, "owner")
    url = _url("corpus-headlines", team.org, corpus_id=corpora.crypto.pk)
    body = {"headlines": [{"day": "2022-01-03", "text": "Tenant tries to write"}]}
    assert_error(call(client, "post", url, body), 404)
    assert_error(call(client, "delete", _url("corpus-detail", team.org, corpus_id=corpora.crypto.pk)), 404)


def test_search_results_are_cached_per_organization_and_corpus_version(team, other_team, corpora):
    body = {"text": "bitcoin exchange hacked", "limit": 5}
    url_a = _url("corpus-search", team.org, corpus_id=corpora.crypto.pk)
    first = call(_client(team, "viewer"), "post", url_a, body).json()
    second = call(_client(team, "viewer"), "post", url_a, body).json()
    assert first["cached"] is False and second["cached"] is True
    assert first["results"] == second["results"]
    url_b = _url("corpus-search", other_team.org, corpus_id=corpora.crypto.pk)
    assert call(_client(other_team, "viewer"), "post", url_b, body).json()["cached"] is False
    Corpus.all_objects.filter(pk=corpora.crypto.pk).update(version=corpora.crypto.version + 1)
    assert call(_client(team, "viewer"), "post", url_a, body).json()["cached"] is False
    Corpus.all_objects.filter(pk=corpora.crypto.pk).update(version=corpora.crypto.version)


def test_the_daily_quota_is_per_organization_with_retry_after(team, other_team, corpora, settings):
    settings.PATTERNS_DAILY_SEARCH_QUOTA = 2
    url = _url("corpus-search", team.org, corpus_id=corpora.btc.pk)
    client = _client(team, "viewer")
    for day in ("2021-01-04", "2021-01-05"):
        assert call(client, "post", url, {"day": day}).status_code == 200
    response = call(client, "post", url, {"day": "2021-01-06"})
    body = assert_error(response, 429, "quota_exceeded")
    assert "2 pattern searches" in body["detail"] and 0 < int(response["Retry-After"]) <= 86400
    assert client.get(_url("patterns-quota", team.org)).json() == {"quota": 2, "used": 2, "remaining": 0}
    other = _url("corpus-search", other_team.org, corpus_id=corpora.btc.pk)
    assert call(_client(other_team, "viewer"), "post", other, {"day": "2021-01-04"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": "ab"}, "text"),
        ({"text": "x" * 5001}, "text"),
        ({"day": "1899-12-31"}, "day"),
        ({"day": "2035-01-01"}, "day"),
        ({"filters": {"retrograde": ["vulcan"]}}, "filters"),
        ({"filters": {"aspects": ["mars-quincunx-saturn"]}}, "aspects"),
        ({"filters": {"aspects": ["mars-square"]}}, "aspects"),
        ({"filters": {"signs": {"sun": "ophiuchus"}}}, "filters"),
        ({"filters": {"start": "2022-01-01", "end": "2021-01-01"}}, "start"),
        ({"day": "2021-01-04", "weights": {"astro": 0, "news": 0, "market": 0}}, "weight_news"),
        ({"text": "rates", "weights": {"news": 11}}, "weights"),
        ({"text": "rates", "limit": 0}, "limit"),
        ({"text": "rates", "unexpected": 1}, "unexpected"),
    ],
)
def test_bad_search_input_is_a_400_naming_the_field(team, corpora, body, field):
    response = call(_client(team, "viewer"), "post", _url("corpus-search", team.org, corpus_id=corpora.btc.pk), body)
    error = assert_error(response, 400)
    assert any(key.startswith(field) for key in error["fields"]), error


def test_upload_keeps_good_rows_and_reports_each_bad_one(team, private):
    csv_bytes = (
        b"title;Date;source\n"
        b"Fed raises rates by half a point;2022-05-04;Reuters\n"
        b";2022-05-05;Reuters\n"
        b"Bad date row;05/06/2022;AP\n"
        b"Out of range;1850-01-01;AP\n"
        b"\"b'Reddit style &amp; escaped'\";2022-05-06T23:30:00-04:00;\n"
    ) + "Latin-1 caf\xe9 row;2022-05-09;X\n".encode("latin-1")
    upload = SimpleUploadedFile("news.csv", csv_bytes, content_type="text/csv")
    client = _client(team, "trader")
    response = client.post(_url("corpus-headlines", team.org, corpus_id=private.pk), {"file": upload})
    assert response.status_code == 201, response.content
    report = response.json()
    assert (report["read"], report["inserted"], report["rejected"]) == (6, 2, 4)
    reasons = {item["line"]: item["reason"] for item in report["rejections"]}
    assert reasons[3] == "the headline is empty"
    assert "not a date" in reasons[4] and "outside the supported range" in reasons[5]
    assert "UTF-8" in reasons[7]
    stored = {(h.day.isoformat(), h.text) for h in Headline.all_objects.filter(corpus=private)}
    assert stored == {("2022-05-04", "Fed raises rates by half a point"), ("2022-05-07", "Reddit style & escaped")}
    again = client.post(
        _url("corpus-headlines", team.org, corpus_id=private.pk),
        {"file": SimpleUploadedFile("news.csv", csv_bytes, content_type="text/csv")},
    ).json()
    assert (again["inserted"], again["duplicates"]) == (0, 2)
    assert AuditEvent.objects.for_org(team.org).filter(action="patterns.headlines_uploaded").count() == 2


def test_unreadable_uploads_are_refused_without_touching_stored_rows(team, private):
    client = _client(team, "trader")
    url = _url("corpus-headlines", team.org, corpus_id=private.pk)
    call(client, "post", url, {"headlines": [{"day": "2021-03-01", "text": "Kept headline"}]})
    for name, content, expected in (
        ("empty.csv", b"", "empty"),
        ("x.csv", b"when,what\n2021-01-01,hello\n", "No date column"),
        ("x.json", b"{not json", "not valid JSON"),
        ("x.json", b'{"rows": 1}', "Expected a JSON list"),
    ):
        response = client.post(url, {"file": SimpleUploadedFile(name, content)})
        error = assert_error(response, 400)
        assert expected in error["detail"] + " ".join(error["fields"].get("file", []))
    assert list(Headline.all_objects.filter(corpus=private).values_list("text", flat=True)) == ["Kept headline"]


def test_indexing_a_private_corpus_is_incremental(team, private, django_capture_on_commit_callbacks):
    client = _client(team, "trader")
    url = _url("corpus-headlines", team.org, corpus_id=private.pk)
    body = {
        "headlines": [
            {"day": "2022-05-04", "text": "Federal Reserve raises interest rates by half a point"},
            {"day": "2022-05-04", "text": "Stocks rally after the central bank decision"},
            {"day": "2022-06-15", "text": "Fed lifts rates by three quarters of a point, the most since 1994"},
        ]
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = call(client, "post", url, body)
    assert response.status_code == 201
    private.refresh_from_db()
    assert (private.status, private.day_count, private.news_day_count, private.headline_count) == ("ready", 2, 2, 3)
    version = private.version
    first_day = DayVector.all_objects.get(corpus=private, day="2022-05-04")
    report = corpus_index(private.pk)
    assert (report.headlines_embedded, report.days_written) == (0, 0)
    call(client, "post", url, {"headlines": [{"day": "2022-07-27", "text": "Fed raises rates again"}]})
    report = corpus_index(private.pk)
    assert (report.headlines_embedded, report.days_written, report.day_count) == (1, 1, 3)
    private.refresh_from_db()
    assert private.version == version + 1
    assert DayVector.all_objects.get(corpus=private, day="2022-05-04").news == first_day.news
    result = call(
        client, "post", _url("corpus-search", team.org, corpus_id=private.pk), {"text": "central bank hikes rates"}
    ).json()
    assert [match["day"] for match in result["results"]][:1] in (["2022-06-15"], ["2022-05-04"], ["2022-07-27"])
    assert result["results"][0]["headlines"][0]["similarity"] > 0.5


def test_headline_search_and_sky_endpoints(team, corpora):
    client = _client(team, "viewer")
    hits = call(
        client, "post", _url("corpus-headline-search", team.org, corpus_id=corpora.reddit.pk), {"text": "Georgia war"}
    ).json()["results"]
    assert len(hits) == 10 and any("georgia" in hit["text"].lower() for hit in hits[:3])
    windowed = call(
        client,
        "post",
        _url("corpus-headline-search", team.org, corpus_id=corpora.reddit.pk),
        {"text": "Georgia war", "start": "2008-08-01", "end": "2008-08-31"},
    ).json()
    assert windowed["method"] == "exact" and windowed["results"]
    assert all("2008-08-01" <= hit["day"] <= "2008-08-31" for hit in windowed["results"])
    sky = client.get(_url("patterns-sky", team.org) + "?day=2020-12-21").json()
    assert "jupiter-conjunction-saturn" in sky["aspects"]
    assert sky["signs"]["sun"] == "capricorn" or sky["signs"]["sun"] == "sagittarius"
    assert_error(client.get(_url("patterns-sky", team.org) + "?day=1800-01-01"), 400)
    assert json.dumps(sky)


def test_indexing_continues_in_fresh_runs_when_a_run_hits_its_time_budget(team, private):
    from patterns.tasks import index_corpus

    call(
        _client(team, "trader"),
        "post",
        _url("corpus-headlines", team.org, corpus_id=private.pk),
        {"headlines": [{"day": "2022-05-04", "text": f"Central bank decision number {n}"} for n in range(3)]},
    )
    report = corpus_index(private.pk, embed_seconds=0)
    private.refresh_from_db()
    assert (report.complete, report.headlines_embedded, report.days_written) == (False, 0, 0)
    assert (private.status, private.status_message) == ("indexing", "Embedding headlines (3 to go)")
    assert index_corpus(private.pk)["complete"] is True
    private.refresh_from_db()
    assert (private.status, private.headline_count, private.news_day_count) == ("ready", 3, 1)
    assert not Headline.all_objects.filter(corpus=private, vector__isnull=True).exists()
