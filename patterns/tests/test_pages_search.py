"""The search page: results with similarity, headlines, sky and forward returns; filters; the
cache; bad input as form errors; the daily quota."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils.html import escape

from patterns.models import DayVector
from patterns.services.search import SearchRequest, search_days_uncached

pytestmark = pytest.mark.django_db


def _url(org, corpus) -> str:
    return reverse("patterns_search", kwargs={"org_slug": org.slug, "corpus_id": corpus.pk})


def _days(html: str) -> list[str]:
    return re.findall(r'<h3><time datetime="([\d-]+)">', html)


def _days_between(first: str, last: str) -> set[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)}


def test_the_empty_search_page_shows_the_form_and_the_quota(team, corpora, client_for):
    response = client_for(team.viewer).get(_url(team.org, corpora.crypto))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="text"' in html and 'name="weight_astro"' in html and 'name="aspects"' in html
    assert "<strong>0</strong> of 1000 used" in html
    assert 'class="day-match"' not in html


def test_a_text_search_shows_days_with_their_headlines_sky_and_forward_returns(team, corpora, client_for):
    client = client_for(team.viewer)
    text = "bitcoin exchange hacked"
    response = client.get(_url(team.org, corpora.crypto), {"text": text, "limit": 5})
    assert response.status_code == 200
    html = response.content.decode()
    expected = search_days_uncached(corpora.crypto, SearchRequest(text=text, limit=5))
    assert _days(html) == [match.day.isoformat() for match in expected.results]
    first = expected.results[0]
    for headline in first.headlines:
        assert escape(headline["text"]) in html
    stored = DayVector.all_objects.get(corpus=corpora.crypto, day=first.day)
    for value in (stored.forward_1, stored.forward_5, stored.forward_20):
        assert f"{value * 100:+.2f}%" in html
    assert f"{first.similarity:.3f}" in html
    assert "Moon: <strong>" in html and "Signs" in html
    assert "<strong>1</strong> of 1000 used" in html
    assert ">fresh</span>" in html


def test_the_same_search_again_comes_from_the_cache(team, corpora, client_for):
    client = client_for(team.viewer)
    query = {"text": "regulators ban crypto trading", "limit": 3}
    first = client.get(_url(team.org, corpora.crypto), query).content.decode()
    second = client.get(_url(team.org, corpora.crypto), query).content.decode()
    assert "from cache" not in first and "from cache" in second
    assert _days(first) == _days(second) and len(_days(first)) == 3


def test_a_retrograde_filter_finds_exactly_the_published_retrograde_days(team, corpora, client_for):
    # Mercury's 2021 stations (UTC, published): retrograde on Jan 30, May 29 and Sep 27, direct on
    # Feb 21, Jun 22 and Oct 18. A day counts when its 00:00 UTC sky is retrograde.
    expected = (
        _days_between("2021-01-31", "2021-02-21")
        | _days_between("2021-05-30", "2021-06-22")
        | _days_between("2021-09-28", "2021-10-18")
    )
    query = {"retrograde": "mercury", "start": "2021-01-01", "end": "2021-12-31", "limit": 100}
    html = client_for(team.viewer).get(_url(team.org, corpora.btc), query).content.decode()
    assert set(_days(html)) == expected
    assert f"{len(expected)} days passed the filters" in html


def test_an_aspect_picked_from_the_lists_filters_the_results(team, corpora, client_for):
    # Mars squared Saturn exactly on 2021-01-13 (published), so that day is within orb.
    query = {
        "aspect_body1": "saturn",
        "aspect_kind": "square",
        "aspect_body2": "mars",
        "start": "2021-01-01",
        "end": "2021-03-31",
        "limit": 100,
    }
    html = client_for(team.viewer).get(_url(team.org, corpora.btc), query).content.decode()
    days = _days(html)
    assert "2021-01-13" in days
    assert html.count("Mars □ Saturn (square)") >= len(days)


def test_days_like_a_day_combine_the_weighted_components(team, corpora, client_for):
    query = {"day": "2021-06-01", "weight_astro": "1", "weight_news": "0", "weight_market": "2", "limit": 5}
    response = client_for(team.viewer).get(_url(team.org, corpora.btc), query)
    assert response.status_code == 200
    html = response.content.decode()
    days = _days(html)
    assert len(days) == 5 and "2021-06-01" not in days
    similarities = [float(value) for value in re.findall(r'<strong class="similarity">([-\d.]+)</strong>', html)]
    assert similarities == sorted(similarities, reverse=True)
    assert "astro " in html and "market " in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"text": "rates", "weight_news": "11"}, "less than or equal to 10"),
        ({"text": "ab"}, "Too short."),
        ({"limit": "5"}, "Give a text, a date or a filter."),
        ({"text": "rates", "limit": "1000"}, "less than or equal to 100"),
        ({"day": "not-a-date"}, "Enter a valid date."),
        ({"day": "1999-01-01"}, "Not in this corpus."),
        ({"text": "rates", "start": "2022-01-01", "end": "2021-01-01"}, "After the end."),
        ({"aspects": "mars-squared-saturn"}, "unknown aspect"),
        ({"aspects": "mars-square"}, "Use body-aspect-body"),
        ({"aspect_body1": "mars"}, "Pick two bodies and an aspect, or none."),
        ({"signs": "sun-nowhere"}, "signs: aries"),
        ({"signs": "sunaries"}, "should look like sun-aries"),
        ({"text": "rates", "weight_astro": "0", "weight_news": "0", "weight_market": "0"}, "above 0"),
    ],
)
def test_bad_search_input_shows_form_errors(team, corpora, client_for, query, message):
    response = client_for(team.viewer).get(_url(team.org, corpora.crypto), query)
    assert response.status_code == 400
    html = response.content.decode()
    assert escape(message) in html
    assert 'class="errorlist' in html
    assert 'class="day-match"' not in html


def test_past_the_daily_quota_the_page_says_so(team, corpora, client_for, settings):
    settings.PATTERNS_DAILY_SEARCH_QUOTA = 1
    client = client_for(team.viewer)
    first = client.get(_url(team.org, corpora.crypto), {"text": "bitcoin rally", "limit": 3})
    assert first.status_code == 200 and "Daily search limit reached" not in first.content.decode()
    second = client.get(_url(team.org, corpora.crypto), {"text": "ethereum upgrade", "limit": 3})
    assert second.status_code == 429
    html = second.content.decode()
    assert "Daily search limit reached" in html and "resets at midnight UTC" in html
    assert 'class="day-match"' not in html
    assert 0 < int(second["Retry-After"]) <= 86400
