"""Analog search on real (subsets of the shipped) corpora: text, date, structured filters,
weights, exact vs HNSW agreement, and the astro configuration of every result."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from django.db import connection, transaction

from patterns.encoders import astro, news
from patterns.models import HEADLINE_HNSW_INDEX, DayVector
from patterns.services.search import (
    _SLICES,
    DayFilters,
    SearchRequest,
    Weights,
    headline_search_sql,
    search_days_uncached,
    search_headlines_uncached,
)
from patterns.services.vectors import fetch_vectors

pytestmark = pytest.mark.django_db


def _exact_ranking(corpus, query: np.ndarray, mask_sql: str = "TRUE", params=()) -> list[date]:
    rows = fetch_vectors(
        f"SELECT day, combined FROM patterns_dayvector WHERE corpus_id = %s AND {mask_sql}", [corpus.pk, *params]
    )
    days = [row[0] for row in rows]
    matrix = np.array([row[1].to_numpy() for row in rows])
    scores = matrix @ query
    order = np.argsort(-scores, kind="stable")
    return [days[i] for i in order]


def test_text_search_finds_days_whose_headlines_match(corpora):
    result = search_days_uncached(corpora.reddit, SearchRequest(text="central banks cut interest rates", limit=5))
    assert result.method == "exact" and len(result.results) == 5
    similarities = [match.similarity for match in result.results]
    assert similarities == sorted(similarities, reverse=True)
    top_headlines = " ".join(h["text"].lower() for match in result.results for h in match.headlines)
    assert "rate" in top_headlines and ("bank" in top_headlines or "fed" in top_headlines)
    for match in result.results:
        assert match.headline_count > 0 and 1 <= len(match.headlines) <= 3
        scores = [h["similarity"] for h in match.headlines]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("limit_setting", [0, 1_000_000])
def test_text_search_ranks_days_by_their_best_headline_like_an_exact_scan(corpora, settings, limit_setting):
    settings.PATTERNS_EXACT_SEARCH_LIMIT = limit_setting  # 0: headline hits come from the HNSW index
    request = SearchRequest(
        text="bitcoin price crash liquidations", weights=Weights(astro=0, news=1, market=0), limit=10
    )
    result = search_days_uncached(corpora.crypto, request)
    assert result.method == ("hnsw" if limit_setting == 0 else "exact")
    rows = fetch_vectors(
        "SELECT day, vector FROM patterns_headline WHERE corpus_id = %s AND vector IS NOT NULL", [corpora.crypto.pk]
    )
    scores = np.array([row[1].to_numpy() for row in rows]) @ news.encode_one(request.text)
    best: dict[date, float] = {}
    for (day, _), score in zip(rows, scores, strict=True):
        best[day] = max(best.get(day, -1.0), float(score))
    expected = sorted(best, key=lambda day: -best[day])[:10]
    got = [match.day for match in result.results]
    assert len(set(got) & set(expected)) >= 9
    for match in result.results:
        assert match.similarity == pytest.approx(best[match.day], abs=1e-4)
        assert match.headlines[0]["similarity"] == pytest.approx(best[match.day], abs=1e-4)


def test_date_search_uses_the_days_own_components_and_the_weights(corpora):
    day = date(2020, 3, 12)  # the Covid crash
    market_only = search_days_uncached(
        corpora.btc, SearchRequest(day=day, weights=Weights(astro=0, news=0, market=1), limit=10)
    )
    assert day not in [match.day for match in market_only.results]
    for match in market_only.results:
        assert match.similarity == pytest.approx(match.component_similarity["market"], abs=1e-5)
        assert set(match.component_similarity) == {"market"}
    astro_only = search_days_uncached(
        corpora.btc, SearchRequest(day=day, weights=Weights(astro=1, news=0, market=0), limit=10)
    )
    assert [m.day for m in astro_only.results] != [m.day for m in market_only.results]
    blended = search_days_uncached(
        corpora.btc, SearchRequest(day=day, weights=Weights(astro=1, news=0, market=3), limit=10)
    )
    for match in blended.results:
        parts = match.component_similarity
        assert match.similarity == pytest.approx((parts["astro"] + 3 * parts["market"]) / 4, abs=1e-5)


def test_structured_filters_hold_for_every_result_by_the_encoder(corpora):
    filters = DayFilters(
        start=date(2019, 1, 1), end=date(2022, 12, 31), retrograde=("mercury",), aspects=("saturn-square-mars",)
    )
    result = search_days_uncached(corpora.btc, SearchRequest(filters=filters, limit=100))
    assert result.method == "filter" and result.results
    days = np.array([match.day for match in result.results], dtype="datetime64[D]")
    arrays = astro.compute(days.astype("datetime64[s]"))
    mercury = astro.BODIES.index("mercury")
    pair = astro.BODY_PAIRS.index(("mars", "saturn"))
    square = list(astro.ASPECTS).index("square")
    assert arrays.retrograde[:, mercury].all()
    assert (arrays.aspect_strength[:, pair, square] > 0).all()
    # And no qualifying day is missing: count them independently over the whole range.
    every_day = astro.compute_days(date(2019, 1, 1), date(2022, 12, 31))
    qualifying = every_day.retrograde[:, mercury] & (every_day.aspect_strength[:, pair, square] > 0)
    assert result.candidates == int(qualifying.sum())


@pytest.mark.parametrize("limit_setting", [0, 1_000_000])
def test_filtered_vector_search_agrees_with_exact_search_on_hnsw_and_exact_paths(corpora, settings, limit_setting):
    settings.PATTERNS_EXACT_SEARCH_LIMIT = limit_setting  # 0 forces the HNSW path with iterative scan
    request = SearchRequest(
        day=date(2021, 5, 19),
        weights=Weights(astro=1, news=0, market=1),
        filters=DayFilters(moon_phases=("full", "waxing_gibbous"), direct=("mercury",)),
        limit=10,
    )
    result = search_days_uncached(corpora.btc, request)
    assert result.method == ("hnsw" if limit_setting == 0 else "exact")
    rows = fetch_vectors(
        "SELECT astro, market FROM patterns_dayvector WHERE corpus_id = %s AND day = %s", [corpora.btc.pk, request.day]
    )
    query = np.zeros(astro.ASTRO_DIM + news.EMBEDDING_DIM + 10, dtype=np.float32)
    query[_SLICES["astro"]] = rows[0][0].to_numpy()
    query[_SLICES["market"]] = rows[0][1].to_numpy()
    phases = [astro.MOON_PHASES.index("full"), astro.MOON_PHASES.index("waxing_gibbous")]
    expected = _exact_ranking(
        corpora.btc,
        query,
        "moon_phase = ANY(%s) AND NOT ('mercury' = ANY(retrograde)) AND day <> %s",
        [phases, request.day],
    )[:10]
    got = [match.day for match in result.results]
    recall = len(set(got) & set(expected)) / 10
    assert recall >= 0.9 if limit_setting == 0 else got == expected
    for match in result.results:
        assert match.moon_phase in ("full", "waxing_gibbous") and "mercury" not in match.retrograde


def test_results_carry_forward_returns_of_the_corpus_market(corpora):
    result = search_days_uncached(corpora.btc, SearchRequest(day=date(2021, 1, 4), limit=3))
    for match in result.results:
        stored = DayVector.all_objects.get(corpus=corpora.btc, day=match.day)
        assert match.close == stored.close and match.forward_returns["5"] == stored.forward_5
        later = DayVector.all_objects.filter(corpus=corpora.btc, day__gt=match.day).order_by("day")[4]
        assert match.forward_returns["5"] == pytest.approx(later.close / match.close - 1)
        assert set(match.signs) == set(astro.BODIES) and match.moon_phase in astro.MOON_PHASES


def test_headline_search_uses_the_hnsw_index_and_matches_exact(corpora):
    answer = search_headlines_uncached(corpora.crypto, "Ethereum merge upgrade", limit=10)
    assert answer["method"] == "hnsw"
    hits = answer["results"]
    vector = news.encode_one("Ethereum merge upgrade")
    rows = fetch_vectors(
        "SELECT id, vector FROM patterns_headline WHERE corpus_id = %s AND vector IS NOT NULL", [corpora.crypto.pk]
    )
    scores = np.array([row[1].to_numpy() for row in rows]) @ vector
    expected = {rows[i][0] for i in np.argsort(-scores)[:10]}
    assert len({hit["id"] for hit in hits} & expected) >= 9
    assert "ethereum" in hits[0]["text"].lower() or "eth" in hits[0]["text"].lower()
    # Similarities are the float32 cosines, even though the index walks half-precision copies.
    by_id = {rows[i][0]: scores[i] for i in range(len(rows))}
    for hit in hits:
        assert hit["similarity"] == pytest.approx(by_id[hit["id"]], abs=1e-5)
    assert [hit["similarity"] for hit in hits] == sorted((hit["similarity"] for hit in hits), reverse=True)
    # The statement's ORDER BY is one the HNSW index can serve: with every other way of ordering
    # priced out, the planner picks it (on a corpus this small it rightly prefers a sort).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
        plan = fetch_vectors(
            "EXPLAIN " + headline_search_sql(["corpus_id = %s", "vector IS NOT NULL"]),
            [vector, corpora.crypto.pk, vector, 10],
        )
    assert any(HEADLINE_HNSW_INDEX in row[0] for row in plan), plan


def test_day_outside_the_corpus_is_a_clear_error(corpora):
    from asterweb.errors import ApplicationError

    with pytest.raises(ApplicationError, match="not a day of this corpus"):
        search_days_uncached(corpora.crypto, SearchRequest(day=date(2015, 1, 1)))


@pytest.mark.parametrize("limit_setting", [0, 20000])
def test_date_bounded_headline_search_is_exact_when_the_window_is_small(corpora, settings, limit_setting):
    """A window holding few headlines is searched exactly (every in-window headline scored); a
    larger one goes through the HNSW index with an iterative scan. Both stay inside the window."""
    settings.PATTERNS_EXACT_SEARCH_LIMIT = limit_setting
    text, start, end = "Bitcoin ETF approval", date(2021, 10, 1), date(2021, 12, 31)
    answer = search_headlines_uncached(corpora.crypto, text, limit=10, start=start, end=end)
    assert answer["method"] == ("exact" if limit_setting else "hnsw")
    hits = answer["results"]
    vector = news.encode_one(text)
    rows = fetch_vectors(
        "SELECT id, vector FROM patterns_headline WHERE corpus_id = %s AND vector IS NOT NULL"
        " AND day BETWEEN %s AND %s",
        [corpora.crypto.pk, start, end],
    )
    assert len(rows) > 10
    scores = np.array([row[1].to_numpy() for row in rows]) @ vector
    expected = [rows[i][0] for i in np.argsort(-scores, kind="stable")[:10]]
    assert all(start.isoformat() <= hit["day"] <= end.isoformat() for hit in hits)
    found = [hit["id"] for hit in hits]
    if limit_setting:
        assert found == expected  # exact, in order
    else:
        assert len(set(found) & set(expected)) >= 9
