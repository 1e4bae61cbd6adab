"""The price chart page and its JSON: candles of the corpus market with retrograde spans, new
and full moons and chosen aspects, checked against published dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse

from patterns.services.corpora import corpus_create
from trading.models import Candle

pytestmark = pytest.mark.django_db


def _url(name: str, org, corpus) -> str:
    return reverse(name, kwargs={"org_slug": org.slug, "corpus_id": corpus.pk})


def _days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def test_the_chart_page_points_the_browser_at_its_data(team, corpora, client_for):
    response = client_for(team.viewer).get(_url("patterns_chart", team.org, corpora.btc))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-chart="price"' in html and "vendor/lightweight-charts.standalone.production.js" in html
    data_url = _url("patterns_chart_data", team.org, corpora.btc)
    assert f'data-url="{data_url}?start=' in html
    assert "retrograde=mercury" in html and "moon=on" in html  # the defaults
    assert "Mercury retrograde" in html


def test_the_chart_data_has_candles_retrograde_spans_moons_and_aspects(team, corpora, client_for):
    query = {
        "start": "2020-12-01",
        "end": "2021-03-31",
        "retrograde": ["mercury"],
        "aspects": "jupiter-conjunction-saturn, saturn-square-mars",
        "moon": "on",
    }
    response = client_for(team.viewer).get(_url("patterns_chart_data", team.org, corpora.btc), query)
    assert response.status_code == 200
    data = response.json()
    stored = Candle.objects.filter(
        exchange=corpora.btc.market_exchange,
        symbol="BTC/USDT",
        timeframe="1d",
        open_time__date__range=("2020-12-01", "2021-03-31"),
    ).order_by("open_time")
    assert [bar["time"] for bar in data["candles"]] == [f"{c.open_time:%Y-%m-%d}" for c in stored]
    assert data["candles"][0]["close"] == pytest.approx(float(stored[0].close))
    # Mercury's published stations: retrograde 2021-01-30 15:52 UTC, direct 2021-02-21 00:52 UTC.
    (mercury,) = data["retrograde"]
    assert mercury["periods"] == [{"start": "2021-01-30", "end": "2021-02-21"}]
    assert mercury["days"] == _days("2021-01-31", "2021-02-21")
    # Published new moons 2020-12-14 16:17, 2021-01-13 05:00; full moons 2020-12-30 03:28, 2021-01-28 19:16 UTC.
    moons = {(marker["time"], marker["kind"]) for marker in data["markers"] if marker["kind"] != "aspect"}
    assert {("2020-12-14", "new_moon"), ("2021-01-13", "new_moon"), ("2020-12-30", "full_moon")} <= moons
    assert ("2021-01-28", "full_moon") in moons
    assert len(moons) == 8  # four lunations in four months
    # The great conjunction of 2020-12-21 (about 18:20 UTC) and Mars square Saturn of 2021-01-13.
    exact = {(item["aspect"], item["exact"]) for item in data["aspects"]}
    assert exact & {("jupiter-conjunction-saturn", "2020-12-21"), ("jupiter-conjunction-saturn", "2020-12-22")}
    assert exact & {("mars-square-saturn", day) for day in ("2021-01-12", "2021-01-13", "2021-01-14")}
    assert {name for name, _ in exact} == {"jupiter-conjunction-saturn", "mars-square-saturn"}
    assert [m["time"] for m in data["markers"]] == sorted(m["time"] for m in data["markers"])


def test_markers_move_to_the_next_trading_day_of_a_weekday_market(team, corpora, client_for):
    # The full moon of Saturday 2008-08-16 (21:16 UTC, a partial lunar eclipse) shows on Monday's bar.
    query = {"start": "2008-08-01", "end": "2008-08-31", "moon": "on"}
    data = client_for(team.viewer).get(_url("patterns_chart_data", team.org, corpora.reddit), query).json()
    days = {bar["time"] for bar in data["candles"]}
    assert "2008-08-16" not in days and "2008-08-18" in days
    assert {"time": "2008-08-18", "kind": "full_moon"} in [{k: m[k] for k in ("time", "kind")} for m in data["markers"]]
    assert data["retrograde"] == []


def test_bad_chart_options_are_explained(team, corpora, client_for):
    client = client_for(team.viewer)
    for query, field in (
        ({"start": "2021-03-01", "end": "2021-01-01"}, "start"),
        ({"aspects": "mars-squared-saturn"}, "aspects"),
        ({"retrograde": "sun"}, "retrograde"),
        ({"start": "2000-01-01", "end": "2021-01-01"}, "end"),
    ):
        response = client.get(_url("patterns_chart_data", team.org, corpora.btc), query)
        assert response.status_code == 400, query
        assert field in response.json()["fields"], query
        page = client.get(_url("patterns_chart", team.org, corpora.btc), query)
        assert page.status_code == 400 and 'class="errorlist' in page.content.decode()


def test_a_corpus_without_a_market_has_no_chart(team, client_for):
    corpus = corpus_create(organization=team.org, user=team.owner, name="Only news")
    client = client_for(team.viewer)
    assert "no price to chart" in client.get(_url("patterns_chart", team.org, corpus)).content.decode()
    data = client.get(_url("patterns_chart_data", team.org, corpus)).json()
    assert data["candles"] == []
