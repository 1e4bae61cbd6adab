"""Analog search over a corpus' day index, and headline search.

The query is built per component: the text's embedding for news, the chosen day's stored
astro/market (and news) vectors, each multiplied by the user's weight. Its inner product
with ``DayVector.combined`` is the weighted sum of per-component cosines; dividing by the
sum of the weights in play gives a similarity in [-1, 1].

Structured filters run in SQL together with the vector ordering. When the filtered set is
small (``PATTERNS_EXACT_SEARCH_LIMIT`` rows or fewer, which covers every corpus of days we
ship) the search is exact: the ORDER BY is written so the HNSW index cannot serve it. Larger
sets use the HNSW index with pgvector's iterative scan, so selective filters still fill the
requested number of results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from accounts.models import Organization
from asterweb.errors import ApplicationError
from asterweb.redis import RedisUnavailable, counter_hit, counter_read, redis_cache_get, redis_cache_set
from patterns.encoders import astro, market, news
from patterns.models import Corpus
from patterns.services.vectors import fetch_vectors

COMPONENTS = ("astro", "news", "market")
_SLICES = {
    "astro": slice(0, astro.ASTRO_DIM),
    "news": slice(astro.ASTRO_DIM, astro.ASTRO_DIM + news.EMBEDDING_DIM),
    "market": slice(astro.ASTRO_DIM + news.EMBEDDING_DIM, None),
}
MAX_RESULTS = 100
MIN_QUERY_CHARS = 3
HEADLINES_PER_DAY = 3
# bench/patterns_search.py at 1M real+perturbed headlines (half-precision index): ef_search 100
# gave recall@10 0.915, 200 gave 0.954 at p99 10.6 ms; at 73k, 200 costs ~2 ms more than 100.
HEADLINE_EF_SEARCH = 200
HEADLINE_HITS_PER_RESULT = 10  # HNSW headline hits fetched per requested day
# The HNSW headline index is on the half-precision copy of each vector (patterns.models.Headline):
# an ORDER BY must be written exactly so for the planner to use it. Scores shown to users are
# computed from the stored float32 vectors; half precision only steers the graph walk (measured
# at 250k against a float32 index on the same rows: same recall@10, 25-30% faster, 43% smaller).
HEADLINE_ORDER = f"(vector::halfvec({news.EMBEDDING_DIM})) <#> %s::halfvec({news.EMBEDDING_DIM})"
CACHE_VERSION = 2  # 2: headline search answers say which method ran


class QuotaExceeded(ApplicationError):
    status_code = 429
    code = "quota_exceeded"

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Weights:
    astro: float = 1.0
    news: float = 1.0
    market: float = 1.0

    def __post_init__(self) -> None:
        for name in COMPONENTS:
            value = getattr(self, name)
            if not (0.0 <= value <= 10.0) or value != value:
                raise ApplicationError(
                    f"The {name} weight must be between 0 and 10.", fields={f"weight_{name}": ["Between 0 and 10."]}
                )


@dataclass(frozen=True)
class DayFilters:
    start: date | None = None
    end: date | None = None
    retrograde: tuple[str, ...] = ()  # bodies that must be retrograde
    direct: tuple[str, ...] = ()  # bodies that must not be
    moon_phases: tuple[str, ...] = ()  # any of
    aspects: tuple[str, ...] = ()  # all of, e.g. "mars-square-saturn"
    signs: tuple[tuple[str, str], ...] = ()  # (body, sign) pairs that must all hold

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ApplicationError("The start date is after the end date.", fields={"start": ["After the end."]})
        for body in (*self.retrograde, *self.direct):
            if body not in astro.PLANETS_THAT_RETROGRADE:
                valid = ", ".join(astro.PLANETS_THAT_RETROGRADE)
                raise ApplicationError(
                    f"Unknown or never-retrograde body {body!r}; use one of {valid}.",
                    fields={"retrograde": [f"Use one of {valid}."]},
                )
        for phase in self.moon_phases:
            if phase not in astro.MOON_PHASES:
                valid = ", ".join(astro.MOON_PHASES)
                raise ApplicationError(
                    f"Unknown moon phase {phase!r}; use one of {valid}.", fields={"moon_phases": [f"Use {valid}."]}
                )
        for name in self.aspects:
            parts = name.split("-")
            if len(parts) != 3:
                raise ApplicationError(
                    f"Aspect {name!r} should look like mars-square-saturn.",
                    fields={"aspects": ["Use body-aspect-body, e.g. mars-square-saturn."]},
                )
            try:
                astro.aspect_name(parts[0], parts[1], parts[2])
            except ValueError as error:
                raise ApplicationError(str(error), fields={"aspects": [str(error)]}) from None
        for body, sign in self.signs:
            if body not in astro.BODIES or sign not in astro.SIGNS:
                raise ApplicationError(
                    f"Unknown body or sign in {body} in {sign}.",
                    fields={"signs": [f"Bodies: {', '.join(astro.BODIES)}; signs: {', '.join(astro.SIGNS)}."]},
                )

    @property
    def normalised_aspects(self) -> tuple[str, ...]:
        return tuple(sorted(astro.aspect_name(*name.split("-")) for name in self.aspects))

    def is_empty(self) -> bool:
        return not any(asdict(self).values())


@dataclass(frozen=True)
class SearchRequest:
    text: str = ""
    day: date | None = None
    weights: Weights = field(default_factory=Weights)
    filters: DayFilters = field(default_factory=DayFilters)
    limit: int = 10

    def __post_init__(self) -> None:
        text = " ".join((self.text or "").split())
        object.__setattr__(self, "text", text)
        if text and len(text) < MIN_QUERY_CHARS:
            raise ApplicationError(
                f"The search text is too short (at least {MIN_QUERY_CHARS} characters).",
                fields={"text": ["Too short."]},
            )
        if len(text) > news.MAX_QUERY_CHARS:
            raise ApplicationError(
                f"The search text is {len(text)} characters; at most {news.MAX_QUERY_CHARS}.",
                fields={"text": ["Too long."]},
            )
        if not 1 <= self.limit <= MAX_RESULTS:
            raise ApplicationError(f"limit must be 1 to {MAX_RESULTS}.", fields={"limit": ["Out of range."]})
        if not text and self.day is None and self.filters.is_empty():
            raise ApplicationError(
                "Give a text, a date or at least one filter to search by.",
                fields={"text": ["Give a text, a date or a filter."]},
            )

    def cache_key_part(self) -> str:
        payload = {
            "text": self.text.lower(),
            "day": self.day.isoformat() if self.day else None,
            "weights": asdict(self.weights),
            "filters": {
                **asdict(self.filters),
                "aspects": self.filters.normalised_aspects,
                "start": self.filters.start.isoformat() if self.filters.start else None,
                "end": self.filters.end.isoformat() if self.filters.end else None,
                "retrograde": sorted(self.filters.retrograde),
                "direct": sorted(self.filters.direct),
                "moon_phases": sorted(self.filters.moon_phases),
                "signs": sorted(self.filters.signs),
            },
            "limit": self.limit,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------- quota and cache


def _seconds_to_midnight_utc(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


def search_quota(organization: Organization) -> int:
    """The organization's daily search quota (billing will set it per plan)."""
    return int(settings.PATTERNS_DAILY_SEARCH_QUOTA)


def _quota_key(organization: Organization, now: datetime) -> str:
    return f"patterns:quota:{organization.pk}:{now:%Y%m%d}"


def search_quota_use(organization: Organization) -> None:
    """Count one search against today's quota (UTC); raise ``QuotaExceeded`` past it. While
    Redis is unreachable searches are not counted (README: the quota fails open)."""
    now = datetime.now(UTC)
    try:
        used = counter_hit(_quota_key(organization, now), ttl_seconds=2 * 86400)
    except RedisUnavailable:
        return
    quota = search_quota(organization)
    if used > quota:
        raise QuotaExceeded(
            f"Your organization has used its {quota:,} pattern searches for today (UTC); "
            "the quota resets at midnight UTC.",
            retry_after=_seconds_to_midnight_utc(now),
        )


def search_quota_status(organization: Organization) -> dict:
    now = datetime.now(UTC)
    used = counter_read(_quota_key(organization, now)) or 0  # None: Redis unreachable, nothing counted
    quota = search_quota(organization)
    return {"quota": quota, "used": min(used, quota), "remaining": max(0, quota - used)}


def search_cache_key(organization: Organization, corpus: Corpus, part: str, kind: str = "days") -> str:
    return f"patterns:search:v{CACHE_VERSION}:{kind}:{organization.pk}:{corpus.pk}:{corpus.version}:{part}"


# ---------------------------------------------------------------- the search


@dataclass(frozen=True)
class DayMatch:
    day: date
    similarity: float | None
    component_similarity: dict[str, float | None]
    headlines: list[dict]
    headline_count: int
    close: float | None
    forward_returns: dict[str, float | None]
    retrograde: list[str]
    moon_phase: str
    aspects: list[str]
    signs: dict[str, str]

    def as_dict(self) -> dict:
        """JSON-ready; shallow (``dataclasses.asdict`` deep-copies every headline: ~4 ms a search)."""
        return {**{name: getattr(self, name) for name in _DAY_MATCH_FIELDS}, "day": self.day.isoformat()}


_DAY_MATCH_FIELDS = tuple(item.name for item in fields(DayMatch))


@dataclass(frozen=True)
class SearchResult:
    corpus_id: int
    corpus_version: int
    method: str  # "exact", "hnsw" or "filter"
    candidates: int
    results: list[DayMatch]
    cached: bool = False

    def as_dict(self) -> dict:
        return {
            "corpus_id": self.corpus_id,
            "corpus_version": self.corpus_version,
            "method": self.method,
            "candidates": self.candidates,
            "cached": self.cached,
            "results": [match.as_dict() for match in self.results],
        }


def _filter_sql(corpus: Corpus, request: SearchRequest) -> tuple[str, list]:
    filters = request.filters
    clauses = ["corpus_id = %s"]
    params: list = [corpus.pk]
    if filters.start:
        clauses.append("day >= %s")
        params.append(filters.start)
    if filters.end:
        clauses.append("day <= %s")
        params.append(filters.end)
    if filters.retrograde:
        clauses.append("retrograde @> %s::varchar[]")
        params.append(list(filters.retrograde))
    if filters.direct:
        clauses.append("NOT (retrograde && %s::varchar[])")
        params.append(list(filters.direct))
    if filters.moon_phases:
        clauses.append("moon_phase = ANY(%s)")
        params.append([astro.MOON_PHASES.index(phase) for phase in filters.moon_phases])
    if filters.aspects:
        clauses.append("aspects @> %s::varchar[]")
        params.append(list(filters.normalised_aspects))
    for body, sign in filters.signs:
        clauses.append(f"signs[{astro.BODIES.index(body) + 1}] = %s")
        params.append(astro.SIGNS.index(sign))
    if request.day is not None:
        clauses.append("day <> %s")
        params.append(request.day)
    if request.text and not request.day:
        clauses.append("headline_count > 0")
    return " AND ".join(clauses), params


def _query_day(corpus: Corpus, day: date) -> dict[str, np.ndarray | None]:
    rows = fetch_vectors(
        "SELECT astro, news, market FROM patterns_dayvector WHERE corpus_id = %s AND day = %s", [corpus.pk, day]
    )
    if not rows:
        span = f"{corpus.days_from} to {corpus.days_to}" if corpus.days_from else "no days yet"
        raise ApplicationError(
            f"{day.isoformat()} is not a day of this corpus (it covers {span}).",
            fields={"day": ["Not in this corpus."]},
        )
    return {
        name: (value.to_numpy() if value is not None else None)
        for name, value in zip(COMPONENTS, rows[0], strict=False)
    }


def build_query_vector(corpus: Corpus, request: SearchRequest) -> tuple[np.ndarray | None, dict[str, float]]:
    """The scaled query vector and the weights actually in play (components present)."""
    parts: dict[str, np.ndarray | None] = {name: None for name in COMPONENTS}
    if request.day is not None:
        parts.update(_query_day(corpus, request.day))
    if request.text:
        parts["news"] = news.encode_one(request.text)
    active = {
        name: getattr(request.weights, name)
        for name in COMPONENTS
        if parts[name] is not None and getattr(request.weights, name) > 0
    }
    if not active:
        if request.day is not None or request.text:
            raise ApplicationError(
                "Every component the query has is weighted 0: raise a weight above 0.",
                fields={"weight_news": ["At least one weight must be above 0."]},
            )
        return None, {}
    vector = np.zeros(astro.ASTRO_DIM + news.EMBEDDING_DIM + market.MARKET_DIM, dtype=np.float32)
    for name, weight in active.items():
        vector[_SLICES[name]] = weight * parts[name]
    return vector, active


def _candidates(corpus: Corpus, request: SearchRequest, where: str, params: list) -> int:
    """Days passing the filters. Without structured filters the corpus' own counts (kept by
    indexing, versioned like the cache) answer without scanning the table."""
    if request.filters.is_empty():
        if request.text and request.day is None:
            return corpus.news_day_count
        return max(0, corpus.day_count - (1 if request.day is not None else 0))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM patterns_dayvector WHERE {where}", params)
        return cursor.fetchone()[0]


_SELECT = (
    "SELECT day, {score} AS score, headline_count, close, forward_1, forward_5, forward_20, retrograde, "
    "moon_phase, signs, aspects{components} FROM patterns_dayvector"
)


def _component_columns(parts: dict[str, np.ndarray]) -> tuple[str, list]:
    """SQL computing each stored component's cosine to the query's (NULL where absent)."""
    return "".join(f", -({name} <#> %s)" for name in parts), list(parts.values())


def _set_hnsw_scan(*, ef_search: int, iterative_scan: str) -> None:
    """pgvector's HNSW scan settings for the rest of the current transaction, in one round trip."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', %s, true)",
            [str(ef_search), iterative_scan],
        )


def _vector_rows(
    where: str, params: list, query: np.ndarray, parts: dict[str, np.ndarray], limit: int, exact: bool
) -> list[tuple]:
    # ``(combined <#> q) + 0`` is the same ordering the HNSW index cannot serve: an exact scan.
    # The inner query ranks on ``combined`` alone (stored inline); per-component cosines read
    # the out-of-line vectors, so they are computed for the top rows only.
    order = "(combined <#> %s) + 0" if exact else "combined <#> %s"
    components, component_params = _component_columns(parts)
    columns = (
        "top.day, top.score, d.headline_count, d.close, d.forward_1, d.forward_5, d.forward_20, d.retrograde, "
        f"d.moon_phase, d.signs, d.aspects{components.replace('-(', '-(d.')}"
    )
    sql = (
        f"SELECT {columns} FROM (SELECT id, day, -(combined <#> %s) AS score FROM patterns_dayvector "
        f"WHERE {where} ORDER BY {order} LIMIT %s) top JOIN patterns_dayvector d ON d.id = top.id "
        "ORDER BY top.score DESC, top.day"
    )
    with transaction.atomic():
        if not exact:
            _set_hnsw_scan(ef_search=max(100, 4 * limit), iterative_scan="strict_order")
        return fetch_vectors(sql, [*component_params, query, *params, query, limit])


def _filter_rows(where: str, params: list, limit: int) -> list[tuple]:
    sql = f"{_SELECT.format(score='NULL::float8', components='')} WHERE {where} ORDER BY day DESC LIMIT %s"
    return fetch_vectors(sql, [*params, limit])


def _headlines_for(corpus: Corpus, days: list[date], text_vector: np.ndarray | None) -> dict[date, list[dict]]:
    if not days:
        return {}
    if text_vector is not None:
        rows = fetch_vectors(
            "SELECT day, text, source, score FROM ("
            " SELECT day, text, source, -(vector <#> %s) AS score,"
            " row_number() OVER (PARTITION BY day ORDER BY vector <#> %s) AS rank"
            " FROM patterns_headline WHERE corpus_id = %s AND day = ANY(%s) AND vector IS NOT NULL) ranked "
            "WHERE rank <= %s ORDER BY day, rank",
            [text_vector, text_vector, corpus.pk, days, HEADLINES_PER_DAY],
        )
    else:
        rows = fetch_vectors(
            "SELECT day, text, source, NULL FROM ("
            " SELECT day, text, source, row_number() OVER (PARTITION BY day ORDER BY id) AS rank"
            " FROM patterns_headline WHERE corpus_id = %s AND day = ANY(%s)) ranked "
            "WHERE rank <= %s ORDER BY day, rank",
            [corpus.pk, days, HEADLINES_PER_DAY],
        )
    grouped: dict[date, list[dict]] = {}
    for day, text, source, score in rows:
        grouped.setdefault(day, []).append(
            {"text": text, "source": source, "similarity": None if score is None else round(float(score), 6)}
        )
    return grouped


def _to_match(
    row: tuple,
    denominator: float,
    names: list[str],
    score: float | None = None,
    component_scores: dict[str, float] | None = None,
) -> DayMatch:
    """A result from a ``_SELECT`` row whose trailing columns are the cosines of ``names``."""
    day, stored_score, headline_count, close, f1, f5, f20, retrograde, moon_phase, signs, aspects, *cosines = row
    if score is None and stored_score is not None:
        score = float(stored_score) / denominator
    components = {
        name: None if value is None else round(float(value), 6) for name, value in zip(names, cosines, strict=True)
    }
    components.update({name: round(value, 6) for name, value in (component_scores or {}).items()})
    return DayMatch(
        day=day,
        similarity=None if score is None else round(score, 6),
        component_similarity=components,
        headlines=[],
        headline_count=headline_count,
        close=close,
        forward_returns={"1": f1, "5": f5, "20": f20},
        retrograde=list(retrograde),
        moon_phase=astro.MOON_PHASES[moon_phase],
        aspects=list(aspects),
        signs={body: astro.SIGNS[sign] for body, sign in zip(astro.BODIES, signs, strict=True)},
    )


def _headline_day_scores(
    corpus: Corpus, request: SearchRequest, where: str, params: list, text_vector: np.ndarray
) -> tuple[dict[date, float], str]:
    """Each day's best headline cosine to the text, over the days passing the filters: exact
    when they hold few headlines, else the top headlines from the HNSW index (iterative scan)."""
    if request.filters.is_empty():  # every day with headlines qualifies: no join, no count
        day_clause, day_params, headline_total = "", [], corpus.headline_count
    else:
        day_clause, day_params = f" AND day IN (SELECT day FROM patterns_dayvector WHERE {where})", params
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT coalesce(sum(headline_count), 0) FROM patterns_dayvector WHERE {where}", params)
            headline_total = cursor.fetchone()[0]
    if headline_total <= settings.PATTERNS_EXACT_SEARCH_LIMIT:
        # OFFSET 0 keeps the subquery whole, so rows are scored before grouping and the sort
        # moves (day, score) pairs rather than whole vectors (measured 78 ms -> 12 ms).
        rows = fetch_vectors(
            "SELECT day, max(score) FROM (SELECT day, -(vector <#> %s) AS score FROM patterns_headline "
            f"WHERE corpus_id = %s AND vector IS NOT NULL{day_clause} OFFSET 0) scored GROUP BY day",
            [text_vector, corpus.pk, *day_params],
        )
        return {day: float(score) for day, score in rows}, "exact"
    top = max(100, HEADLINE_HITS_PER_RESULT * request.limit)
    with transaction.atomic():
        _set_hnsw_scan(ef_search=min(1000, max(HEADLINE_EF_SEARCH, top)), iterative_scan="relaxed_order")
        rows = fetch_vectors(
            "SELECT day, -(vector <#> %s) FROM patterns_headline "
            f"WHERE corpus_id = %s AND vector IS NOT NULL{day_clause} ORDER BY {HEADLINE_ORDER} LIMIT %s",
            [text_vector, corpus.pk, *day_params, text_vector, top],
        )
    scores: dict[date, float] = {}
    for day, score in rows:
        scores[day] = max(scores.get(day, -1.0), float(score))
    return scores, "hnsw"


def _weighted_scores(where: str, params: list, query: np.ndarray) -> tuple[list[date], np.ndarray]:
    """Every filtered day's inner product with ``query`` (the weighted astro/market parts, the
    news slice zero), read from the inline ``combined`` vector: exact, no TOAST reads."""
    rows = fetch_vectors(f"SELECT day, -(combined <#> %s) FROM patterns_dayvector WHERE {where}", [query, *params])
    return [row[0] for row in rows], np.array([row[1] for row in rows], dtype=np.float64)


def _component_cosines(corpus: Corpus, days: list[date], parts: dict[str, np.ndarray]) -> dict[date, dict]:
    """Each stored component's cosine to the query's, for a few days."""
    names = list(parts)
    columns = ", ".join(f"-({name} <#> %s)" for name in names)
    rows = fetch_vectors(
        f"SELECT day, {columns} FROM patterns_dayvector WHERE corpus_id = %s AND day = ANY(%s)",
        [*parts.values(), corpus.pk, days],
    )
    return {
        row[0]: {name: (0.0 if value is None else float(value)) for name, value in zip(names, row[1:], strict=True)}
        for row in rows
    }


def _text_ranking(
    corpus: Corpus, request: SearchRequest, where: str, params: list, parts: dict[str, np.ndarray], active: dict
) -> tuple[list[tuple[date, float, dict[str, float]]], str]:
    """Days ranked by the weighted mix of their best headline's cosine to the text and (with
    a date) their astro/market cosines to that day's."""
    limit = request.limit
    news_scores, method = _headline_day_scores(corpus, request, where, params, parts["news"])
    others = {name: parts[name] for name in active if name != "news"}
    total = sum(active.values())
    if not others:
        ranked = sorted(news_scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [(day, score, {"news": score}) for day, score in ranked], method
    query = np.zeros(astro.ASTRO_DIM + news.EMBEDDING_DIM + market.MARKET_DIM, dtype=np.float32)
    for name, part in others.items():
        query[_SLICES[name]] = active[name] * part
    days, weighted = _weighted_scores(where, params, query)
    floor = min(news_scores.values(), default=0.0)  # days below the HNSW hits score at most this
    news_column = np.array([news_scores.get(day, floor) for day in days])
    mixed = active["news"] * news_column + weighted
    order = np.lexsort((np.array(days, dtype="datetime64[D]"), -mixed))[:limit]
    top = [days[i] for i in order]
    cosines = _component_cosines(corpus, top, others)
    return [
        (days[i], float(mixed[i] / total), {"news": float(news_column[i]), **cosines.get(days[i], {})}) for i in order
    ], method


def _rows_for_days(corpus: Corpus, days: list[date]) -> dict[date, tuple]:
    select = _SELECT.format(score="NULL::float8", components="")
    rows = fetch_vectors(f"{select} WHERE corpus_id = %s AND day = ANY(%s)", [corpus.pk, days])
    return {row[0]: row for row in rows}


def search_days_uncached(corpus: Corpus, request: SearchRequest) -> SearchResult:
    """The search itself (no quota, no cache): used by the service below and by tests."""
    where, params = _filter_sql(corpus, request)
    query, active = build_query_vector(corpus, request)
    candidates = _candidates(corpus, request, where, params)
    query_parts = {name: query[_SLICES[name]] / weight for name, weight in active.items()}
    text_vector = query_parts.get("news") if request.text else None
    if query is None:
        rows, method = _filter_rows(where, params, request.limit), "filter"
        matches = [_to_match(row, 1.0, []) for row in rows]
    elif text_vector is not None:
        ranking, method = _text_ranking(corpus, request, where, params, query_parts, active)
        stored = _rows_for_days(corpus, [day for day, _, _ in ranking])
        matches = [_to_match(stored[day], 1.0, [], score, parts) for day, score, parts in ranking]
    else:
        exact = candidates <= settings.PATTERNS_EXACT_SEARCH_LIMIT
        rows = _vector_rows(where, params, query, query_parts, request.limit, exact)
        method = "exact" if exact else "hnsw"
        matches = [_to_match(row, sum(active.values()), list(query_parts)) for row in rows]
    headlines = _headlines_for(corpus, [match.day for match in matches], text_vector)
    return SearchResult(
        corpus_id=corpus.pk,
        corpus_version=corpus.version,
        method=method,
        candidates=candidates,
        results=[replace(match, headlines=headlines.get(match.day, [])) for match in matches],
    )


def search_days(organization: Organization, corpus: Corpus, request: SearchRequest) -> dict:
    """Search with the organization's quota and the Redis cache; returns the JSON-ready dict."""
    key = search_cache_key(organization, corpus, request.cache_key_part())
    search_quota_use(organization)
    cached = redis_cache_get(key)
    if cached is not None:
        return {**json.loads(cached), "cached": True}
    result = search_days_uncached(corpus, request).as_dict()
    redis_cache_set(key, json.dumps(result, default=str), ttl_seconds=int(settings.PATTERNS_SEARCH_CACHE_SECONDS))
    return result


# ---------------------------------------------------------------- headline search


def headline_search_sql(clauses: list[str], *, exact: bool = False) -> str:
    """Top headlines (parameters: query vector, the clauses', query vector, limit): through the
    HNSW index, or ``exact``ly by the float32 vectors, an ordering the index cannot serve."""
    order = "vector <#> %s" if exact else HEADLINE_ORDER
    return (
        "SELECT id, day, text, source, -(vector <#> %s) FROM patterns_headline "
        f"WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT %s"
    )


def _few_headlines_between(corpus: Corpus, start: date | None, end: date | None) -> bool:
    """Whether the corpus holds at most ``PATTERNS_EXACT_SEARCH_LIMIT`` headlines from ``start`` to
    ``end``: counted on the (corpus, day) index, stopping one past the limit."""
    limit = int(settings.PATTERNS_EXACT_SEARCH_LIMIT)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM patterns_headline WHERE corpus_id = %s"
            " AND day >= coalesce(%s, '-infinity'::date) AND day <= coalesce(%s, 'infinity'::date) LIMIT %s) in_window",
            [corpus.pk, start, end, limit + 1],
        )
        return cursor.fetchone()[0] <= limit


def search_headlines_uncached(
    corpus: Corpus, text: str, *, limit: int = 10, start: date | None = None, end: date | None = None
) -> dict:
    """Top headlines by cosine to ``text``, filtered by corpus and dates: exact when the dates
    leave few headlines (``PATTERNS_EXACT_SEARCH_LIMIT``), else HNSW with an iterative scan (at
    1M headlines a one-month window through the index found 83% of the true top 10 in 46 ms).
    Returns ``{"method": "exact" | "hnsw", "results": [hit, ...]}``."""
    request = SearchRequest(text=text, limit=limit)
    vector = news.encode_one(request.text)
    clauses, params = ["corpus_id = %s", "vector IS NOT NULL"], [corpus.pk]
    if start:
        clauses.append("day >= %s")
        params.append(start)
    if end:
        clauses.append("day <= %s")
        params.append(end)
    exact = bool(start or end) and _few_headlines_between(corpus, start, end)
    sql = headline_search_sql(clauses, exact=exact)
    if exact:
        rows = fetch_vectors(sql, [vector, *params, vector, limit])
    else:
        with transaction.atomic():
            _set_hnsw_scan(ef_search=max(HEADLINE_EF_SEARCH, 4 * limit), iterative_scan="relaxed_order")
            rows = fetch_vectors(sql, [vector, *params, vector, limit])
    rows.sort(key=lambda row: -row[4])
    hits = [
        {"id": row_id, "day": day.isoformat(), "text": text, "source": source, "similarity": round(float(score), 6)}
        for row_id, day, text, source, score in rows
    ]
    return {"method": "exact" if exact else "hnsw", "results": hits}


def search_headlines(organization: Organization, corpus: Corpus, text: str, *, limit: int = 10, **bounds) -> dict:
    request = SearchRequest(text=text, limit=limit)
    part = hashlib.sha256(json.dumps([request.text.lower(), limit, str(bounds)]).encode()).hexdigest()
    key = search_cache_key(organization, corpus, part, kind="headlines")
    search_quota_use(organization)
    cached = redis_cache_get(key)
    if cached is not None:
        return {**json.loads(cached), "cached": True}
    result = {"corpus_id": corpus.pk, **search_headlines_uncached(corpus, text, limit=limit, **bounds)}
    redis_cache_set(key, json.dumps(result), ttl_seconds=int(settings.PATTERNS_SEARCH_CACHE_SECONDS))
    return {**result, "cached": False}
