"""The pattern analysis API: answers that match their OpenAPI description, tenancy of private
corpora, the shared daily quota, and 400s that name the field."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from accounts.tests.api_helpers import assert_error, call, issue_key, key_client
from patterns.services.corpora import corpus_create

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi():
    return schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))


def _url(name: str, org, corpus) -> str:
    return reverse(name, kwargs={"org_slug": org.slug, "corpus_id": corpus.pk})


def _viewer(team):
    return key_client(issue_key(team.org, team.viewer, scopes=["read"]))


def _conforms(openapi, response, method: str, template: str) -> dict:
    """The response matches what /api/schema/ documents for this operation (as schemathesis checks)."""
    request = requests.Request(method, f"http://testserver{response.wsgi_request.get_full_path()}").prepare()
    wrapped = schemathesis.Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.headers.items()},
        content=response.content,
        request=request,
        elapsed=0.0,
        verify=False,
    )
    openapi[f"/api/v1/orgs/{{org_slug}}/corpora/{{corpus_id}}/{template}/"][method].validate_response(wrapped)
    return response.json()


def test_analysis_of_a_day_answers_as_documented(team, corpora, openapi):
    body = {"day": "2022-06-13", "horizon": 5, "k": 25, "weights": {"astro": 0.5, "market": 1}}
    response = call(_viewer(team), "post", _url("corpus-analysis", team.org, corpora.btc), body)
    assert response.status_code == 200, response.content
    data = _conforms(openapi, response, "POST", "analysis")
    assert data["corpus_id"] == corpora.btc.pk and data["horizon"] == 5 and len(data["analogs"]) == 25
    assert all(item["day"] <= "2022-06-08" for item in data["analogs"])  # outcome known by June 13
    assert data["baseline_stats"]["period_to"] == "2022-06-08"
    assert 0 < data["p_value"] <= 1 and data["ci95"]["low"] <= data["analog_stats"]["mean"] <= data["ci95"]["high"]
    assert any("20 queries" in note for note in data["notes"])


def test_a_filter_only_analysis_has_no_similarities(team, corpora, openapi):
    body = {"filters": {"retrograde": ["mercury"]}, "horizon": 20, "k": 5}
    response = call(_viewer(team), "post", _url("corpus-analysis", team.org, corpora.btc), body)
    data = _conforms(openapi, response, "POST", "analysis")
    assert len(data["analogs"]) == 5 and all(item["similarity"] is None for item in data["analogs"])
    assert any("Small sample" in note for note in data["notes"])


def test_walk_forward_signal_and_heatmap_answer_as_documented(team, corpora, openapi):
    client = _viewer(team)
    body = {"start": "2021-01-01", "end": "2022-12-31", "horizon": 5, "k": 20, "fee_bps": 10}
    walk = _conforms(
        openapi, call(client, "post", _url("corpus-walk-forward", team.org, corpora.btc), body), "POST", "walk-forward"
    )
    assert walk["periods"] == len(walk["equity"]) == 146 and walk["baseline"]["runs"] == 20
    signal_url = _url("corpus-signal", team.org, corpora.btc)
    signal = _conforms(openapi, client.get(signal_url, {"day": "2022-11-09", "k": 10}), "GET", "signal")
    assert signal["symbol"] == "BTC/USDT" and signal["horizon"] == 5 and len(signal["analogs"]) == 10
    assert 0 <= signal["confidence"] <= 1
    early = _conforms(openapi, client.get(signal_url, {"day": "2019-01-02"}), "GET", "signal")
    assert early["expected_return"] is None and early["analogs"] == []
    heat_url = _url("corpus-aspect-heatmap", team.org, corpora.btc)
    heat = _conforms(openapi, client.get(heat_url), "GET", "aspect-heatmap")
    assert heat["horizons"] == [1, 5, 20] and heat["rows"]
    assert _conforms(openapi, client.get(heat_url, {"horizon": "20"}), "GET", "aspect-heatmap")["horizons"] == [20]


def test_another_organizations_private_corpus_is_not_found(team, other_team):
    theirs = corpus_create(organization=other_team.org, user=other_team.owner, name="Bravo desk")
    client = key_client(issue_key(team.org, team.owner))
    for name, method, body in (
        ("corpus-analysis", "post", {"text": "anything at all"}),
        ("corpus-walk-forward", "post", {"start": "2020-01-01", "end": "2020-12-31"}),
        ("corpus-signal", "get", None),
        ("corpus-aspect-heatmap", "get", None),
    ):
        url = _url(name, team.org, theirs)
        if method == "get":
            url += "?day=2020-01-01"
        assert_error(call(client, method, url, body), 404, "not_found")


def test_outsiders_get_a_404_and_viewers_are_enough(team, other_team, corpora):
    outsider = key_client(issue_key(other_team.org, other_team.owner))
    url = _url("corpus-signal", team.org, corpora.btc)
    assert_error(outsider.get(url, {"day": "2022-01-03"}), 404)
    assert _viewer(team).get(url, {"day": "2022-01-03"}).status_code == 200


@pytest.mark.parametrize(
    "name,method,body,field",
    [
        ("corpus-analysis", "post", {"day": "2021-01-04", "horizon": 3}, "horizon"),
        ("corpus-analysis", "post", {"day": "2021-01-04", "k": 4}, "k"),
        ("corpus-analysis", "post", {"day": "2021-01-04", "k": 201}, "k"),
        ("corpus-analysis", "post", {"day": "2030-01-01"}, "day"),
        ("corpus-analysis", "post", {"day": "2021-01-04", "as_of": "2025-01-01"}, "as_of"),
        ("corpus-analysis", "post", {"day": "2021-01-04", "limit": 10}, "limit"),
        ("corpus-analysis", "post", {}, "text"),
        ("corpus-walk-forward", "post", {"start": "2022-01-01", "end": "2021-01-01"}, "start"),
        ("corpus-walk-forward", "post", {"start": "2010-01-01", "end": "2021-01-01"}, "start"),
        ("corpus-walk-forward", "post", {"start": "2021-01-01", "end": "2021-01-03"}, "end"),
        ("corpus-walk-forward", "post", {"start": "2021-01-01", "end": "2022-01-01", "horizon": 2}, "horizon"),
        (
            "corpus-walk-forward",
            "post",
            {"start": "2021-01-01", "end": "2022-01-01", "weights": {"astro": 0, "news": 0, "market": 0}},
            "weights",
        ),
        ("corpus-signal", "get", {}, "day"),
        ("corpus-signal", "get", {"day": "2031-05-01"}, "day"),
        ("corpus-signal", "get", {"day": "2022-01-03", "k": "1000"}, "k"),
        ("corpus-aspect-heatmap", "get", {"horizon": "7"}, "horizon"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(team, corpora, name, method, body, field):
    url = _url(name, team.org, corpora.btc)
    client = _viewer(team)
    response = client.get(url, body) if method == "get" else call(client, "post", url, body)
    assert field in assert_error(response, 400)["fields"]


def test_analysis_counts_against_the_daily_search_quota(team, corpora, settings):
    settings.PATTERNS_DAILY_SEARCH_QUOTA = 2
    client = _viewer(team)
    search = reverse("corpus-search", kwargs={"org_slug": team.org.slug, "corpus_id": corpora.btc.pk})
    assert call(client, "post", search, {"day": "2021-01-04"}).status_code == 200
    analysis = _url("corpus-analysis", team.org, corpora.btc)
    assert call(client, "post", analysis, {"day": "2021-01-04"}).status_code == 200
    response = call(client, "post", analysis, {"day": "2021-01-04"})
    assert_error(response, 429, "quota_exceeded")
    assert int(response["Retry-After"]) > 0
    assert_error(client.get(_url("corpus-signal", team.org, corpora.btc), {"day": "2021-01-04"}), 429)
