"""patterns.services.analysis on real indexed corpora (the package's ``corpora`` fixture):
BTC/USDT 2019-2022, crypto news with BTC, and Reddit world news with the DJIA (whose weekends
and holidays have news but no bar). Expected values are read from the stored rows with SQL."""

from __future__ import annotations

import math
from copy import copy
from datetime import date, timedelta
from itertools import pairwise

import numpy as np
import pytest
from django.db import connection

from asterweb.errors import ApplicationError
from patterns.encoders.market import HORIZONS
from patterns.models import DayVector
from patterns.services.analysis import (
    analog_signal,
    analyse,
    aspect_heatmap,
    corpus_matrix,
    similarity_timeline,
    walk_forward,
)
from patterns.services.search import DayFilters, SearchRequest, Weights

pytestmark = pytest.mark.django_db


def _sql(query: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def _window_end(corpus, day: date, horizon: int) -> date | None:
    """The day of the ``horizon``-th bar after ``day``, straight from the stored closes."""
    rows = _sql(
        "SELECT day FROM patterns_dayvector WHERE corpus_id = %s AND close IS NOT NULL AND day > %s "
        "ORDER BY day OFFSET %s LIMIT 1",
        [corpus.pk, day, horizon - 1],
    )
    return rows[0][0] if rows else None


def _bars_between(corpus, first: date, second: date) -> int:
    """Bars after ``first`` up to and including ``second``."""
    return _sql(
        "SELECT count(*) FROM patterns_dayvector WHERE corpus_id = %s AND close IS NOT NULL AND day > %s AND day <= %s",
        [corpus.pk, first, second],
    )[0][0]


def _close(corpus, day: date) -> float:
    return _sql("SELECT close FROM patterns_dayvector WHERE corpus_id = %s AND day = %s", [corpus.pk, day])[0][0]


def test_the_matrix_holds_every_stored_day(corpora):
    matrix = corpus_matrix(corpora.crypto)
    stored = list(
        DayVector.all_objects.filter(corpus=corpora.crypto)
        .order_by("day")
        .values_list("day", "forward_5", "headline_count")
    )
    assert matrix.days.astype(date).tolist() == [day for day, _, _ in stored]
    forward = matrix.forward_return(5)
    assert [None if np.isnan(value) else value for value in forward] == [value for _, value, _ in stored]
    assert matrix.present["news"].tolist() == [count > 0 for _, _, count in stored]
    assert corpus_matrix(corpora.crypto) is matrix  # loaded once per version
    reindexed = copy(corpora.crypto)
    reindexed.version += 1
    assert corpus_matrix(reindexed) is not matrix


@pytest.mark.parametrize("horizon", HORIZONS)
def test_point_in_time_on_a_market_with_weekends_and_holidays(corpora, horizon):
    corpus = corpora.reddit
    rng = np.random.default_rng(horizon)
    days = [
        day
        for (day,) in _sql(
            "SELECT day FROM patterns_dayvector WHERE corpus_id = %s AND day > %s", [corpus.pk, date(2008, 9, 1)]
        )
    ]
    checked = 0
    for at in rng.choice(len(days), size=25, replace=False):
        day = days[at]
        found = analog_signal(corpus, "DJIA", day, horizon=horizon, k=10)
        for analog_day, _, forward in found.analogs_used:
            end = _window_end(corpus, analog_day, horizon)
            assert end is not None and end <= day, (analog_day, end, day)
            # The forward return is the close at the window's end over the analog's close.
            assert forward == pytest.approx(_close(corpus, end) / _close(corpus, analog_day) - 1, rel=1e-9)
            checked += 1
        chosen = sorted(analog_day for analog_day, _, _ in found.analogs_used)
        assert all(_bars_between(corpus, a, b) >= horizon for a, b in pairwise(chosen))
    assert checked > 25  # not vacuous: on average more than one analog per sampled day


def test_analysing_a_day_compares_its_analogs_with_the_period_known_then(corpora):
    corpus, day = corpora.btc, date(2022, 6, 13)
    result = analyse(corpus, SearchRequest(day=day), 5, 20)
    assert len(result.analogs) == 20
    assert all(_window_end(corpus, a.day, 5) <= day for a in result.analogs)
    assert all(abs((a.day - b.day).days) >= 5 for i, a in enumerate(result.analogs) for b in result.analogs[i + 1 :])
    # BTC trades every day: the last day whose 5-day outcome was known on June 13 is June 8.
    assert result.baseline_from == date(2019, 1, 1) and result.baseline_to == date(2022, 6, 8)
    count, mean = _sql(
        "SELECT count(*), avg(forward_5) FROM patterns_dayvector WHERE corpus_id = %s AND day BETWEEN %s AND %s "
        "AND forward_5 IS NOT NULL",
        [corpus.pk, result.baseline_from, result.baseline_to],
    )[0]
    assert result.baseline_stats["n"] == count and result.baseline_stats["mean"] == pytest.approx(mean)
    assert 0 < result.p_value <= 1
    assert sum(result.histogram["baseline_counts"]) == count
    assert result.as_dict()["baseline_stats"]["period_to"] == date(2022, 6, 8)


def test_filters_use_search_semantics_and_the_baseline_stays_unconditional(corpora):
    corpus = corpora.btc
    request = SearchRequest(filters=DayFilters(retrograde=("mercury",), start=date(2020, 1, 1)))
    result = analyse(corpus, request, 5, 30)
    retrograde = {
        day
        for (day,) in _sql(
            "SELECT day FROM patterns_dayvector WHERE corpus_id = %s AND 'mercury' = ANY(retrograde) AND day >= %s",
            [corpus.pk, date(2020, 1, 1)],
        )
    }
    assert result.analogs and {a.day for a in result.analogs} <= retrograde
    assert all(a.similarity is None for a in result.analogs)
    # Most recent first (as search lists a filter-only query).
    assert [a.day for a in result.analogs] == sorted((a.day for a in result.analogs), reverse=True)
    assert result.baseline_stats["n"] > len(retrograde)  # every day of the period, retrograde or not
    assert result.baseline_from >= date(2020, 1, 1)


def test_a_text_query_takes_analogs_from_days_with_news(corpora):
    corpus = corpora.crypto
    result = analyse(corpus, SearchRequest(text="regulators crack down on crypto exchanges"), 1, 10)
    news_days = {
        day
        for (day,) in _sql(
            "SELECT day FROM patterns_dayvector WHERE corpus_id = %s AND headline_count > 0", [corpus.pk]
        )
    }
    assert len(result.analogs) == 10 and {a.day for a in result.analogs} <= news_days
    similarities = [a.similarity for a in result.analogs]
    assert similarities == sorted(similarities, reverse=True)
    assert any("describes the past" in note for note in result.notes)


def test_as_of_and_dates_outside_the_corpus_are_refused_with_the_field(corpora):
    corpus = corpora.btc
    with pytest.raises(ApplicationError) as raised:
        analyse(corpus, SearchRequest(day=date(2030, 1, 1)), 5, 20)
    assert "day" in raised.value.fields
    with pytest.raises(ApplicationError) as raised:
        analyse(corpus, SearchRequest(day=date(2020, 1, 1)), 5, 20, as_of=date(2024, 1, 1))
    assert "as_of" in raised.value.fields
    with pytest.raises(ApplicationError) as raised:
        analyse(corpus, SearchRequest(day=date(2020, 1, 1)), 3, 20)
    assert "horizon" in raised.value.fields
    with pytest.raises(ApplicationError) as raised:
        walk_forward(corpus, date(2021, 1, 1), date(2025, 1, 1))
    assert "end" in raised.value.fields


def test_the_signal_is_the_mean_of_its_analogs_with_a_t_based_confidence(corpora):
    found = analog_signal(corpora.btc, "BTC/USDT", date(2022, 11, 9), horizon=5, k=20)
    returns = np.array([forward for _, _, forward in found.analogs_used])
    assert len(returns) == 20 and found.expected_return == pytest.approx(returns.mean())
    t = returns.mean() / (returns.std(ddof=1) / math.sqrt(20))
    assert found.confidence == pytest.approx(math.erf(abs(t) / math.sqrt(2)))
    assert all(_window_end(corpora.btc, day, 5) <= date(2022, 11, 9) for day, _, _ in found.analogs_used)


def test_walk_forward_over_two_years_of_btc(corpora):
    corpus, start, end = corpora.btc, date(2021, 1, 1), date(2022, 12, 20)  # last window ends in the corpus
    result = walk_forward(corpus, start, end, horizon=5, k=20, weights=Weights(), fee_bps=10)
    (bars,) = _sql(
        "SELECT count(*) FROM patterns_dayvector WHERE corpus_id = %s AND day BETWEEN %s AND %s "
        "AND close IS NOT NULL AND forward_5 IS NOT NULL",
        [corpus.pk, start, end],
    )[0]
    assert len(result.days) == math.ceil(bars / 5)
    assert all((b - a).days == 5 for a, b in pairwise(result.days))
    assert result.strategy["signals"] == len(result.days)  # two years of history before 2021
    # Buy and hold compounds the realized 5-day returns, read back from the stored closes.
    first, last = result.days[0], result.days[-1]
    assert result.equity["buy_and_hold"][-1] == pytest.approx(
        _close(corpus, _window_end(corpus, last, 5)) / _close(corpus, first), rel=1e-9
    )
    assert result.baseline["runs"] == 20 and result.baseline["sharpe_std"] > 0
    assert -1 <= result.strategy["information_coefficient"] <= 1


def test_aspect_heatmap_agrees_with_sql(corpora):
    corpus = corpora.btc
    heat = aspect_heatmap(corpus)
    assert heat["horizons"] == [1, 5, 20] and heat["rows"]
    for row in heat["rows"][:5]:
        for cell in row["cells"]:
            column = f"forward_{cell['horizon']}"
            count, mean = _sql(
                f"SELECT count(*), avg({column}) FROM patterns_dayvector WHERE corpus_id = %s "
                f"AND aspects @> ARRAY[%s]::varchar[] AND {column} IS NOT NULL",
                [corpus.pk, row["aspect"]],
            )[0]
            (overall,) = _sql(f"SELECT avg({column}) FROM patterns_dayvector WHERE corpus_id = %s", [corpus.pk])[0]
            assert cell["days"] == count
            if count >= heat["min_days"]:
                assert cell["difference"] == pytest.approx(mean - overall)
    one = aspect_heatmap(corpus, 20)
    assert one["horizons"] == [20] and all(len(row["cells"]) == 1 for row in one["rows"])


def test_the_similarity_timeline_covers_every_day(corpora):
    corpus, day = corpora.btc, date(2021, 5, 19)
    timeline = similarity_timeline(corpus, SearchRequest(day=day, weights=Weights(astro=1, market=2)))
    assert len(timeline["days"]) == DayVector.all_objects.filter(corpus=corpus).count()
    at = timeline["days"].index(day)
    assert timeline["similarity"][at] == pytest.approx(1.0, abs=1e-5)  # a day is its own best match
    assert timeline["matches_filters"][at] is False  # search never returns the query day itself
    assert max(timeline["similarity"]) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ApplicationError):
        similarity_timeline(corpus, SearchRequest(filters=DayFilters(retrograde=("mercury",))))


def test_the_period_before_the_analysed_day_only(corpora):
    # Early days have few or no analogs: the first BTC days know no outcome at all.
    corpus = corpora.btc
    found = analog_signal(corpus, "BTC/USDT", date(2019, 1, 3), horizon=5)
    assert found.expected_return is None and found.confidence == 0.0 and found.analogs_used == []
    with pytest.raises(ApplicationError, match="No day can serve"):
        analyse(corpus, SearchRequest(day=date(2019, 1, 3)), 5, 20)
    later = analog_signal(corpus, "BTC/USDT", date(2019, 1, 1) + timedelta(days=30), horizon=5, k=20)
    assert 0 < len(later.analogs_used) <= 6  # 26 eligible days, 5 apart
