"""The analysis and walk-forward pages: analogs against the baseline (point-in-time, spaced),
the histogram, the similarity timeline, the aspect heatmap, the walk-forward evaluation, bad
input and the quota."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from itertools import pairwise

import numpy as np
import pytest
from django.urls import reverse

from patterns.models import DayVector
from patterns.services.analysis import HISTOGRAM_BINS
from patterns.services.corpora import corpus_create

pytestmark = pytest.mark.django_db


def _url(name: str, org, corpus) -> str:
    return reverse(name, kwargs={"org_slug": org.slug, "corpus_id": corpus.pk})


def _analogs(html: str) -> list[tuple[date, str]]:
    rows = re.findall(
        r'\?day=([\d-]+)">[\d-]+</a></td>\s*<td class="similarity">[^<]*</td>\s*<td[^>]*>([^<]+)</td>', html
    )
    return [(date.fromisoformat(day), value) for day, value in rows]


def _json_script(html: str, element_id: str):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no {element_id}"
    return json.loads(match.group(1))


def test_analysing_a_day_compares_point_in_time_analogs_with_the_baseline(team, corpora, client_for):
    query_day = date(2022, 6, 13)
    response = client_for(team.viewer).get(
        _url("patterns_analysis", team.org, corpora.btc), {"day": query_day.isoformat(), "horizon": "5", "k": "20"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    analogs = _analogs(html)
    assert len(analogs) == 20
    days = sorted(day for day, _ in analogs)
    # Point-in-time: each analog's 5-bar outcome (at least 5 calendar days) was known by the query day.
    assert all(day + timedelta(days=5) <= query_day for day in days)
    # Spaced: no two analogs share part of a 5-bar window.
    assert all((later - earlier).days >= 5 for earlier, later in pairwise(days))
    stored = dict(DayVector.all_objects.filter(corpus=corpora.btc, day__in=days).values_list("day", "forward_5"))
    for day, shown in analogs:
        assert shown == f"{stored[day] * 100:+.2f}%"
    mean = float(np.mean([stored[day] for day in days]))
    assert re.search(rf"<th scope=\"row\">Analogs</th><td>20</td><td>{re.escape(f'{mean * 100:+.2f}%')}</td>", html)
    assert "p-value" in html and "95% interval of the analog mean" in html
    assert "Read this before trusting the numbers" in html and "Multiple testing" in html
    # The histogram has one pair of bars per bin.
    assert html.count('class="hist-analog"') == html.count('class="hist-baseline"') == HISTOGRAM_BINS
    # The timeline holds every day of the corpus; its markers are the analogs.
    timeline = _json_script(html, "similarity-timeline-data")
    assert len(timeline["points"]) == DayVector.all_objects.filter(corpus=corpora.btc).count()
    assert timeline["analogs"] == [day.isoformat() for day in days]
    assert 'data-chart="timeline"' in html and "js/patterns_charts.js" in html
    # The heatmap of the corpus, and the walk-forward form.
    assert 'class="heatmap"' in html and "5-bar return vs all days" in html
    assert 'aria-label="Walk-forward evaluation"' in html
    assert "<strong>1</strong> of 1000 used" in html


def test_analysing_a_text_uses_the_news_corpus(team, corpora, client_for):
    query = {"text": "bitcoin price crashes as exchange collapses", "horizon": "1", "k": "10"}
    html = client_for(team.viewer).get(_url("patterns_analysis", team.org, corpora.crypto), query).content.decode()
    analogs = _analogs(html)
    assert len(analogs) == 10
    assert len({day for day, _ in analogs}) == 10
    assert _json_script(html, "similarity-timeline-data")["analogs"] == sorted(day.isoformat() for day, _ in analogs)


def test_a_filter_only_analysis_has_no_timeline(team, corpora, client_for):
    query = {"retrograde": "mercury", "horizon": "5", "k": "10"}
    response = client_for(team.viewer).get(_url("patterns_analysis", team.org, corpora.btc), query)
    assert response.status_code == 200
    html = response.content.decode()
    assert len(_analogs(html)) == 10
    assert "A filter-only query has no similarity to draw" in html
    assert "similarity-timeline-data" not in html


def test_the_search_page_links_to_the_analysis_of_the_same_query(team, corpora, client_for):
    client = client_for(team.viewer)
    html = client.get(
        _url("patterns_search", team.org, corpora.btc), {"day": "2021-05-19", "limit": "5"}
    ).content.decode()
    link = re.search(r'href="([^"]+/analysis/\?[^"]+)"', html).group(1).replace("&amp;", "&")
    response = client.get(link)
    assert response.status_code == 200
    assert len(_analogs(response.content.decode())) == 20  # the default k


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"day": "2022-06-13", "k": "2"}, "greater than or equal to 5"),
        ({"day": "2022-06-13", "horizon": "3"}, "Select a valid choice"),
        ({"day": "2022-06-13", "as_of": "1990-01-01"}, "Outside the corpus."),
        ({"day": "2022-06-13", "as_of": "2022-06-01"}, "On or after the query day."),
        ({"text": "x"}, "Too short."),
    ],
)
def test_bad_analysis_input_shows_form_errors(team, corpora, client_for, query, message):
    response = client_for(team.viewer).get(_url("patterns_analysis", team.org, corpora.btc), query)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "hist-analog" not in html


def test_a_corpus_without_a_market_cannot_be_analysed(team, client_for):
    corpus = corpus_create(organization=team.org, user=team.owner, name="Only news")
    client = client_for(team.viewer)
    page = client.get(_url("patterns_analysis", team.org, corpus))
    assert page.status_code == 200 and "no market attached" in page.content.decode()
    response = client.get(_url("patterns_analysis", team.org, corpus), {"text": "rates rise"})
    assert response.status_code == 400
    assert "has no market attached" in response.content.decode()


def test_past_the_quota_the_analysis_page_says_so(team, corpora, client_for, settings):
    settings.PATTERNS_DAILY_SEARCH_QUOTA = 1
    client = client_for(team.viewer)
    url = _url("patterns_analysis", team.org, corpora.btc)
    assert client.get(url, {"day": "2022-06-13"}).status_code == 200
    response = client.get(url, {"day": "2022-05-13"})
    assert response.status_code == 429
    assert "Daily search limit reached" in response.content.decode()


def test_walk_forward_compares_the_analog_signal_with_random_analogs(team, corpora, client_for):
    start, end, horizon = date(2022, 1, 1), date(2022, 6, 30), 5
    query = {"start": start, "end": end, "horizon": horizon, "k": 10, "fee_bps": 10}
    response = client_for(team.viewer).get(_url("patterns_walk_forward", team.org, corpora.btc), query)
    assert response.status_code == 200
    html = response.content.decode()
    # Evaluated every 5th bar from the first day of the period with a known 5-bar return.
    rows = list(
        DayVector.all_objects.filter(
            corpus=corpora.btc, day__range=(start, end), close__isnull=False, forward_5__isnull=False
        )
        .order_by("day")
        .values_list("day", "forward_5")
    )[::horizon]
    periods = len(rows)
    assert f"{periods} periods of 5 bars" in html
    curves = _json_script(html, "equity-data")
    assert [point["time"] for point in curves["buy_and_hold"]] == [day.isoformat() for day, _ in rows]
    assert curves["buy_and_hold"][-1]["value"] == pytest.approx(float(np.prod([1 + r for _, r in rows])))
    assert len(curves["analog"]) == len(curves["random_median"]) == periods
    assert "Hit rate" in html and "Information coefficient" in html and "Sharpe (after fees)" in html
    assert "of the random runs" in html
    assert 'data-chart="equity"' in html


def test_bad_walk_forward_input_shows_form_errors(team, corpora, client_for):
    client = client_for(team.viewer)
    url = _url("patterns_walk_forward", team.org, corpora.btc)
    page = client.get(url)
    assert page.status_code == 200 and f'value="{corpora.btc.market_to:%Y-%m-%d}"' in page.content.decode()
    for query, message in (
        ({"start": "2022-06-30", "end": "2022-01-01"}, "After the end."),
        ({"start": "1990-01-01", "end": "2022-01-01"}, "Outside the corpus."),
        ({"start": "2022-01-01", "end": "2022-01-03"}, "Too short a period."),
        ({"start": "2022-01-01", "end": "2022-06-01", "fee_bps": "-1"}, "greater than or equal to 0"),
    ):
        response = client.get(url, {"horizon": 5, "k": 10, "fee_bps": 10, **query})
        assert response.status_code == 400, query
        assert message in response.content.decode(), query
