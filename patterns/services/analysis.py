"""Honest analysis of analog days ("fuzzy backtesting") over a corpus' day index.

A corpus is loaded into numpy once per (corpus, version) and kept in a small per-process LRU;
everything below is matrix products over those arrays.

Rules every function here keeps:

- **Similarity** is the one search uses: the weighted sum of per-component cosines divided by
  the sum of the weights in play (components the query has, weighted above 0).
- **Horizons count bars** of the corpus market (days with a close), so a weekend never makes
  a 5-day window shorter. Day A's forward window at horizon h ends on the day of bar(A) + h.
- **Point-in-time**: analysing day D, an analog A is admitted only when its forward window has
  ended by D (end day <= D), so its outcome was known on D. A query with neither a day nor an
  ``as_of`` date describes the whole of history and predicts nothing; it has no cut-off.
- **Spacing**: analogs are chosen greedily by similarity, skipping any closer than ``min_gap``
  bars (default: the horizon) to one already chosen, so their return windows do not overlap
  and neighbouring days do not count as independent evidence.
- **The null**: random analog sets of the same size with the same spacing, drawn uniformly
  from all days of the same period with a known forward return (the unconditional pool the
  analogs are compared with; filters are part of the query whose information is tested).
  The p-value is two-sided: twice the smaller tail, counting the observed set itself.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import psycopg

from asterweb.errors import ApplicationError
from patterns.encoders.market import HORIZONS
from patterns.models import Corpus
from patterns.services.search import _SLICES, COMPONENTS, SearchRequest, Weights, _filter_sql, build_query_vector
from patterns.services.vectors import raw_connection

K_MIN, K_MAX = 5, 200
PERMUTATION_DRAWS = 2000
BOOTSTRAP_DRAWS = 2000
SMALL_SAMPLE = 30
HISTOGRAM_BINS = 20
MIN_HEATMAP_DAYS = 20
_MATRIX_CACHE_SIZE = 4
_NO_END = np.iinfo(np.int64).max  # a forward window that ends past the corpus' last bar

# ---------------------------------------------------------------- the corpus as arrays


@dataclass(frozen=True, eq=False)
class CorpusMatrix:
    """One corpus' days as aligned arrays, oldest first."""

    days: np.ndarray  # datetime64[D]
    vectors: dict[
        str, np.ndarray | None
    ]  # component -> (n, dim) float32, zero rows where absent; None if never present
    present: dict[str, np.ndarray]  # component -> bool (n,)
    forward: np.ndarray  # (n, len(HORIZONS)) float64, NaN where unknown
    bar: np.ndarray  # int64 (n,): index among days with a close; -1 on days without one
    window_end: dict[int, np.ndarray]  # horizon -> int64 day number the forward window ends on (or _NO_END)
    aspects: tuple[tuple[str, ...], ...] = ()
    headline_count: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.days.size)

    @property
    def day_numbers(self) -> np.ndarray:
        return self.days.astype(np.int64)

    def forward_return(self, horizon: int) -> np.ndarray:
        return self.forward[:, HORIZONS.index(horizon)]

    def index_of(self, day: date) -> int | None:
        at = int(np.searchsorted(self.days, np.datetime64(day, "D")))
        return at if at < len(self) and self.days[at] == np.datetime64(day, "D") else None

    def day_parts(self, index: int) -> dict[str, np.ndarray | None]:
        """The stored component vectors of one day (None where the day lacks the component)."""
        return {
            name: self.vectors[name][index] if self.vectors[name] is not None and self.present[name][index] else None
            for name in COMPONENTS
        }

    def bars_per_year(self) -> float:
        bar_days = self.days[self.bar >= 0].astype(np.int64)
        if bar_days.size < 2 or bar_days[-1] == bar_days[0]:
            return 365.25
        return float((bar_days.size - 1) * 365.25 / (bar_days[-1] - bar_days[0]))


def corpus_matrix_build(
    *,
    days: np.ndarray,
    vectors: dict[str, np.ndarray | None],
    present: dict[str, np.ndarray] | None = None,
    forward: np.ndarray,
    has_close: np.ndarray,
    aspects: tuple[tuple[str, ...], ...] = (),
    headline_count: np.ndarray | None = None,
) -> CorpusMatrix:
    """Assemble a ``CorpusMatrix`` from arrays (the loader below and the tests use it)."""
    days = np.asarray(days).astype("datetime64[D]")
    n = days.size
    has_close = np.asarray(has_close, dtype=bool)
    present = dict(present or {})
    full: dict[str, np.ndarray | None] = {}
    for name in COMPONENTS:
        matrix = vectors.get(name)
        mask = present.get(name)
        if mask is None:
            mask = np.zeros(n, bool) if matrix is None else np.ones(n, bool)
        present[name] = np.asarray(mask, dtype=bool)
        full[name] = None if matrix is None or not present[name].any() else np.asarray(matrix, dtype=np.float32)
    bar = np.where(has_close, np.cumsum(has_close) - 1, -1).astype(np.int64)
    bar_days = days[has_close].astype(np.int64)
    window_end = {}
    for horizon in HORIZONS:
        end_bar = bar + horizon
        inside = (bar >= 0) & (end_bar < bar_days.size)
        ends = np.full(n, _NO_END, dtype=np.int64)
        ends[inside] = bar_days[end_bar[inside]]
        window_end[horizon] = ends
    return CorpusMatrix(
        days=days,
        vectors=full,
        present=present,
        forward=np.asarray(forward, dtype=np.float64).reshape(n, len(HORIZONS)),
        bar=bar,
        window_end=window_end,
        aspects=tuple(tuple(row) for row in aspects) if aspects else tuple(() for _ in range(n)),
        headline_count=headline_count,
    )


_cache: OrderedDict[tuple[int, int], CorpusMatrix] = OrderedDict()
_cache_lock = threading.Lock()


def corpus_matrix(corpus: Corpus) -> CorpusMatrix:
    """The corpus' arrays, loaded once per (corpus, version) in this process."""
    key = (corpus.pk, corpus.version)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    matrix = _corpus_matrix_load(corpus)
    with _cache_lock:
        _cache[key] = matrix
        while len(_cache) > _MATRIX_CACHE_SIZE:
            _cache.popitem(last=False)
    return matrix


def corpus_matrix_clear() -> None:
    with _cache_lock:
        _cache.clear()


def _corpus_matrix_load(corpus: Corpus) -> CorpusMatrix:
    sql = (
        "SELECT day, astro, news, market, close, forward_1, forward_5, forward_20, headline_count, aspects "
        "FROM patterns_dayvector WHERE corpus_id = %s ORDER BY day"
    )
    # Binary transfer: each vector arrives as raw float4s (np.frombuffer), not text to parse.
    # Django's cursors bind client-side, which cannot return binary; a plain psycopg one can.
    with psycopg.Cursor(raw_connection()) as cursor:
        cursor.execute(sql, [corpus.pk], binary=True)
        rows = cursor.fetchall()
    if not rows:
        raise ApplicationError(f"The corpus “{corpus.name}” has no indexed days yet.", code="corpus_empty")
    n = len(rows)
    vectors, present = {}, {}
    for column, name in enumerate(COMPONENTS, start=1):
        values = [row[column] for row in rows]
        present[name] = np.array([value is not None for value in values])
        if not present[name].any():
            vectors[name] = None
            continue
        dim = next(value for value in values if value is not None).dimensions()
        matrix = np.zeros((n, dim), dtype=np.float32)
        for index, value in enumerate(values):
            if value is not None:
                matrix[index] = value.to_numpy()
        vectors[name] = matrix
    forward = np.array([[np.nan if value is None else value for value in row[5:8]] for row in rows], dtype=np.float64)
    return corpus_matrix_build(
        days=np.array([row[0] for row in rows], dtype="datetime64[D]"),
        vectors=vectors,
        present=present,
        forward=forward,
        has_close=np.array([row[4] is not None for row in rows]),
        aspects=tuple(tuple(row[9] or ()) for row in rows),
        headline_count=np.array([row[8] for row in rows], dtype=np.int64),
    )


# ---------------------------------------------------------------- analogs


@dataclass(frozen=True)
class Analog:
    day: date
    similarity: float | None
    forward_return: float
    index: int = field(repr=False, compare=False)


def similarities(
    matrix: CorpusMatrix, query_vector_parts: dict[str, np.ndarray | None], weights: Weights
) -> np.ndarray | None:
    """Every day's similarity to the query in [-1, 1], or None for a query without vectors."""
    active = {
        name: getattr(weights, name)
        for name in COMPONENTS
        if query_vector_parts.get(name) is not None and getattr(weights, name) > 0
    }
    if not active:
        return None
    total = np.zeros(len(matrix), dtype=np.float64)
    for name, weight in active.items():
        if matrix.vectors[name] is not None:  # a component no day has adds 0 to every day
            # einsum, not ``@``: a matrix-vector product this small runs fastest on one thread, and
            # OpenBLAS' threads slowed walk-forward 5x on a busy two-core machine (measured).
            query = np.asarray(query_vector_parts[name], dtype=np.float32)
            total += weight * np.einsum("ij,j->i", matrix.vectors[name], query)
    return total / sum(active.values())


def eligible_mask(matrix: CorpusMatrix, horizon: int, target_day: date | np.datetime64 | None) -> np.ndarray:
    """Days that may be analogs of ``target_day``: a forward return whose window ended by then."""
    mask = np.isfinite(matrix.forward_return(horizon))
    if target_day is not None:
        mask &= matrix.window_end[horizon] <= np.datetime64(target_day, "D").astype(np.int64)
    return mask


def _greedy_spaced(candidates: np.ndarray, bars: np.ndarray, k: int, gap: int) -> list[int]:
    """The first ``k`` candidates (in preference order) at least ``gap`` bars from each other."""
    chosen: list[int] = []
    blocked: set[int] = set()
    for index in candidates.tolist():
        bar = int(bars[index])
        if bar in blocked:
            continue
        chosen.append(index)
        if len(chosen) == k:
            break
        blocked.update(range(bar - gap + 1, bar + gap))
    return chosen


def analog_days(
    matrix: CorpusMatrix,
    query_vector_parts: dict[str, np.ndarray | None],
    weights: Weights,
    target_day: date | np.datetime64 | None,
    horizon: int,
    k: int,
    min_gap: int | None = None,
    *,
    allowed: np.ndarray | None = None,
) -> list[Analog]:
    """The ``k`` most similar point-in-time-eligible days, spaced ``min_gap`` bars apart.

    ``allowed`` narrows the pool (structured filters). A query without vectors (filters only)
    takes the most recent eligible days, as search lists them.
    """
    gap = max(1, horizon if min_gap is None else int(min_gap))
    pool = eligible_mask(matrix, horizon, target_day)
    if allowed is not None:
        pool &= allowed
    indices = np.flatnonzero(pool)
    scores = similarities(matrix, query_vector_parts, weights)
    if scores is None:
        order, chunk = indices[::-1], indices.size
    else:
        order, chunk = _by_score(indices, scores[indices], first=k * (2 * gap + 1))
    chosen = _greedy_spaced(order[:chunk], matrix.bar, k, gap)
    if len(chosen) < k and chunk < order.size:  # the top chunk was too crowded: walk the rest too
        order = indices[np.argsort(-scores[indices], kind="stable")] if scores is not None else order
        chosen = _greedy_spaced(order, matrix.bar, k, gap)
    forward = matrix.forward_return(horizon)
    return [
        Analog(
            day=matrix.days[index].astype(date),
            similarity=None if scores is None else float(scores[index]),
            forward_return=float(forward[index]),
            index=index,
        )
        for index in chosen
    ]


def _by_score(indices: np.ndarray, scores: np.ndarray, *, first: int) -> tuple[np.ndarray, int]:
    """``indices`` ordered by score (best first, ties to the earlier day); only the first
    ``first`` are sorted when that is enough (argpartition), the caller falls back if not."""
    if indices.size <= first:
        return indices[np.argsort(-scores, kind="stable")], indices.size
    top = np.argpartition(-scores, first - 1)[:first]
    top = top[np.lexsort((top, -scores[top]))]
    return indices[top], first


# ---------------------------------------------------------------- statistics


def spaced_random_sets(rng: np.random.Generator, length: int, size: int, gap: int, draws: int) -> np.ndarray:
    """``draws`` uniformly random sets of ``size`` positions in ``range(length)`` whose members
    are at least ``gap`` apart, as a sorted (draws, size) int array.

    A spaced set p_1 < … < p_m maps one-to-one to a plain set q_i = p_i - (i - 1)(gap - 1) of
    m distinct values in range(length - (m - 1)(gap - 1)); plain sets come from Floyd's
    algorithm, vectorised over draws.
    """
    gap = max(1, gap)
    slots = length - (size - 1) * (gap - 1)
    if size < 1 or slots < size:
        raise ValueError(f"cannot place {size} positions {gap} apart in {length}")
    chosen = np.empty((draws, size), dtype=np.int64)
    for column, upper in enumerate(range(slots - size, slots)):
        pick = rng.integers(0, upper + 1, size=draws)
        taken = (chosen[:, :column] == pick[:, None]).any(axis=1)
        chosen[:, column] = np.where(taken, upper, pick)
    chosen.sort(axis=1)
    return chosen + np.arange(size) * (gap - 1)


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """Two-sided: twice the smaller tail share (the observed set counts as one draw), at most 1."""
    below = (1 + np.count_nonzero(null <= observed)) / (1 + null.size)
    above = (1 + np.count_nonzero(null >= observed)) / (1 + null.size)
    return float(min(1.0, 2 * min(below, above)))


def bootstrap_interval(
    values: np.ndarray, rng: np.random.Generator, draws: int = BOOTSTRAP_DRAWS
) -> tuple[float, float] | None:
    """Percentile bootstrap 95% interval of the mean (None under two values)."""
    if values.size < 2:
        return None
    means = values[rng.integers(0, values.size, size=(draws, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when undefined."""
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return None
    rx, ry = _ranks(x[keep]), _ranks(y[keep])
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(1, values.size + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return np.bincount(inverse, weights=ranks)[inverse] / counts[inverse]


def _summary(values: np.ndarray) -> dict:
    return {
        "n": int(values.size),
        "mean": float(values.mean()) if values.size else None,
        "median": float(np.median(values)) if values.size else None,
        "hit_rate": float((values > 0).mean()) if values.size else None,
        "std": float(values.std(ddof=1)) if values.size > 1 else None,
    }


def _histogram(analogs: np.ndarray, baseline: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict:
    both = np.concatenate([analogs, baseline])
    low, high = float(both.min()), float(both.max())
    if low == high:
        low, high = low - 0.005, high + 0.005
    edges = np.linspace(low, high, bins + 1)
    return {
        "edges": edges.tolist(),
        "analog_counts": np.histogram(analogs, edges)[0].tolist(),
        "baseline_counts": np.histogram(baseline, edges)[0].tolist(),
    }


def signal_confidence(returns: np.ndarray) -> float:
    """1 minus the two-sided normal p-value of the analogs' mean return against zero:
    erf(|t| / √2) with t = mean / (sd / √n). 0 means no evidence of a direction, near 1 means
    the analogs agree strongly. Spaced analogs do not share return windows, so treating them
    as independent is less wrong than it would be for neighbouring days; it is still a guide,
    not a probability of being right."""
    if returns.size < 2:
        return 0.0
    spread = returns.std(ddof=1)
    if spread == 0:
        return 1.0 if returns.mean() != 0 else 0.0
    t = returns.mean() / (spread / math.sqrt(returns.size))
    return float(math.erf(abs(t) / math.sqrt(2)))


# ---------------------------------------------------------------- analyse a query


@dataclass(frozen=True)
class Analysis:
    horizon: int
    k: int
    as_of: date | None
    analogs: list[Analog]
    eligible_days: int
    analog_stats: dict
    baseline_stats: dict
    baseline_from: date
    baseline_to: date
    difference_of_means: float | None
    p_value: float | None
    permutation_draws: int
    ci95: tuple[float, float] | None
    histogram: dict
    notes: list[str]

    def as_dict(self) -> dict:
        return {
            "horizon": self.horizon,
            "k": self.k,
            "as_of": self.as_of,
            "analogs": [
                {"day": item.day, "similarity": item.similarity, "forward_return": item.forward_return}
                for item in self.analogs
            ],
            "eligible_days": self.eligible_days,
            "analog_stats": self.analog_stats,
            "baseline_stats": {**self.baseline_stats, "period_from": self.baseline_from, "period_to": self.baseline_to},
            "difference_of_means": self.difference_of_means,
            "p_value": self.p_value,
            "permutation_draws": self.permutation_draws,
            "ci95": None if self.ci95 is None else {"low": self.ci95[0], "high": self.ci95[1]},
            "histogram": self.histogram,
            "notes": self.notes,
        }


def _check_horizon_k(horizon: int, k: int) -> None:
    if horizon not in HORIZONS:
        raise ApplicationError(
            f"Unknown horizon {horizon}; use one of {', '.join(map(str, HORIZONS))} bars.",
            fields={"horizon": [f"One of {', '.join(map(str, HORIZONS))}."]},
        )
    if not K_MIN <= k <= K_MAX:
        raise ApplicationError(f"k must be {K_MIN} to {K_MAX} analogs.", fields={"k": ["Out of range."]})


def analyse(
    corpus: Corpus, request: SearchRequest, horizon: int = 5, k: int = 20, as_of: date | None = None
) -> Analysis:
    """k analogs of a text/date/filter query and their forward returns against the
    unconditional distribution of the same period, with a spacing-aware permutation p-value."""
    _check_horizon_k(horizon, k)
    _require_market(corpus)
    matrix = corpus_matrix(corpus)
    first, last = matrix.days[0].astype(date), matrix.days[-1].astype(date)
    if as_of is not None and not first <= as_of <= last:
        raise ApplicationError(
            f"as_of {as_of} is outside this corpus ({first} to {last}).", fields={"as_of": ["Outside the corpus."]}
        )
    if as_of is not None and request.day is not None and as_of < request.day:
        raise ApplicationError(
            "as_of is before the query day, whose own data was not known yet.",
            fields={"as_of": ["On or after the query day."]},
        )
    query, active = build_query_vector(corpus, request)
    parts = {name: query[_SLICES[name]] / weight for name, weight in active.items()} if query is not None else {}
    return analyse_matrix(
        matrix,
        parts,
        request.weights,
        target_day=as_of or request.day,
        horizon=horizon,
        k=k,
        allowed=_filter_mask(corpus, request, matrix),
        as_of=as_of,
    )


def _require_market(corpus: Corpus) -> None:
    if not corpus.has_market:
        raise ApplicationError(
            f"The corpus “{corpus.name}” has no market attached, so there are no forward returns to analyse.",
            code="no_market",
        )


def _filter_mask(corpus: Corpus, request: SearchRequest, matrix: CorpusMatrix) -> np.ndarray:
    """Days passing the query's structured filters, with search's own SQL (one semantics)."""
    where, params = _filter_sql(corpus, request)
    with raw_connection().cursor() as cursor:
        # ``where`` is search's own clause: fixed SQL text with %s placeholders only.
        # Day numbers (days since 1970-01-01) as integers: no date object per row to convert.
        cursor.execute(f"SELECT day - DATE '1970-01-01' FROM patterns_dayvector WHERE {where}", params)
        days = np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64)
    return np.isin(matrix.day_numbers, days)


def analyse_matrix(
    matrix: CorpusMatrix,
    query_vector_parts: dict[str, np.ndarray | None],
    weights: Weights,
    *,
    target_day: date | None,
    horizon: int,
    k: int,
    allowed: np.ndarray | None = None,
    as_of: date | None = None,
    draws: int = PERMUTATION_DRAWS,
    seed: int = 0,
) -> Analysis:
    """``analyse`` on arrays (no database)."""
    pool = eligible_mask(matrix, horizon, target_day)
    if allowed is not None:
        pool &= allowed
    if not pool.any():
        cutoff = f" whose {horizon}-bar window ended by {target_day}" if target_day else ""
        raise ApplicationError(
            f"No day can serve as an analog: analogs need a forward return{cutoff} and must match the filters.",
            code="no_analogs",
        )
    analogs = analog_days(matrix, query_vector_parts, weights, target_day, horizon, k, allowed=allowed)
    forward = matrix.forward_return(horizon)
    eligible = np.flatnonzero(pool)
    period = np.zeros(len(matrix), bool)
    period[eligible[0] : eligible[-1] + 1] = True
    baseline_index = np.flatnonzero(period & np.isfinite(forward))  # consecutive bars: see corpus_matrix_build
    baseline = forward[baseline_index]
    returns = np.array([item.forward_return for item in analogs])
    rng = np.random.default_rng(seed)
    null = baseline[spaced_random_sets(rng, baseline.size, returns.size, horizon, draws)].mean(axis=1)
    analog_stats, baseline_stats = _summary(returns), _summary(baseline)
    p_value = permutation_p_value(float(returns.mean()), null)
    return Analysis(
        horizon=horizon,
        k=k,
        as_of=as_of,
        analogs=analogs,
        eligible_days=int(pool.sum()),
        analog_stats=analog_stats,
        baseline_stats=baseline_stats,
        baseline_from=matrix.days[baseline_index[0]].astype(date),
        baseline_to=matrix.days[baseline_index[-1]].astype(date),
        difference_of_means=analog_stats["mean"] - baseline_stats["mean"],
        p_value=p_value,
        permutation_draws=draws,
        ci95=bootstrap_interval(returns, rng),
        histogram=_histogram(returns, baseline),
        notes=_analysis_notes(len(analogs), k, horizon, p_value, target_day),
    )


def _analysis_notes(n: int, k: int, horizon: int, p_value: float, target_day: date | None) -> list[str]:
    notes = []
    if n < k:
        notes.append(f"Only {n} of the {k} analogs asked for could be found {horizon} bars apart in the eligible days.")
    if n < SMALL_SAMPLE:
        notes.append(
            f"Small sample: {n} analogs. Under 30, one or two unusual days can move the mean a lot; read the "
            "interval, not the point estimate."
        )
    notes.append(
        f"Forward returns over {horizon} bars overlap for days fewer than {horizon} bars apart. Analogs are kept "
        f"at least {horizon} bars apart, and the p-value compares them with random sets spaced the same way, so "
        "overlap does not inflate it; the baseline histogram still counts overlapping windows."
    )
    notes.append(
        f"The p-value ({p_value:.3f}) is the chance that a random set of the same size from the same period "
        "differs from the baseline at least this much. Multiple testing: if you try 20 queries, about one will "
        "look significant at 5% by chance alone; a pattern found by searching needs confirming on other data, "
        "e.g. the walk-forward evaluation."
    )
    if target_day is None:
        notes.append("No day or as_of date was given: analogs come from all of history, so this describes the past.")
    else:
        notes.append(f"Point-in-time: only analogs whose {horizon}-bar outcome was known by {target_day} are used.")
    return notes


# ---------------------------------------------------------------- the signal strategies call


@dataclass(frozen=True)
class AnalogSignal:
    expected_return: float | None  # mean forward return of the analogs; None when there are none
    confidence: float  # signal_confidence(): in [0, 1]
    analogs_used: list[tuple[date, float, float]]  # (day, similarity, forward return)


def analog_signal(
    corpus: Corpus, symbol: str, day: date, *, horizon: int = 5, k: int = 20, weights: Weights | None = None
) -> AnalogSignal:
    """The analog forecast for ``day`` (its own stored vectors as the query), point-in-time."""
    if not corpus.has_market or symbol != corpus.market_symbol:
        market = corpus.market_symbol or "no market"
        raise ApplicationError(
            f"This corpus forecasts {market}, not {symbol}.",
            code="wrong_symbol",
            fields={"symbol": ["Not this corpus' market."]},
        )
    _check_horizon_k(horizon, k)
    weights = weights or Weights()
    _require_some_weight(weights)
    matrix = corpus_matrix(corpus)
    index = _day_index(matrix, day, "day")
    return analog_signal_matrix(matrix, index, horizon=horizon, k=k, weights=weights)


def _day_index(matrix: CorpusMatrix, day: date, field_name: str) -> int:
    index = matrix.index_of(day)
    if index is None:
        first, last = matrix.days[0].astype(date), matrix.days[-1].astype(date)
        raise ApplicationError(
            f"{day} is not a day of this corpus ({first} to {last}).", fields={field_name: ["Not in this corpus."]}
        )
    return index


def _require_some_weight(weights: Weights) -> None:
    if not any(getattr(weights, name) > 0 for name in COMPONENTS):
        raise ApplicationError(
            "Every component is weighted 0: raise a weight above 0.", fields={"weights": ["At least one above 0."]}
        )


def analog_signal_matrix(matrix: CorpusMatrix, index: int, *, horizon: int, k: int, weights: Weights) -> AnalogSignal:
    """``analog_signal`` for row ``index`` of the arrays; no analogs when the day has none of
    the weighted components (never a fallback to merely recent days)."""
    parts = matrix.day_parts(index)
    if not any(parts[name] is not None and getattr(weights, name) > 0 for name in COMPONENTS):
        return AnalogSignal(expected_return=None, confidence=0.0, analogs_used=[])
    analogs = analog_days(matrix, parts, weights, matrix.days[index], horizon, k)
    returns = np.array([item.forward_return for item in analogs])
    return AnalogSignal(
        expected_return=float(returns.mean()) if returns.size else None,
        confidence=signal_confidence(returns),
        analogs_used=[(item.day, item.similarity, item.forward_return) for item in analogs],
    )


# ---------------------------------------------------------------- walk-forward evaluation


def long_short_returns(signal: np.ndarray, realized: np.ndarray, fee_bps: float) -> np.ndarray:
    """Per-period returns of position = sign(signal) (flat without a signal), minus
    ``fee_bps`` on each unit of position change (entering costs 1, flipping costs 2)."""
    position = np.sign(np.nan_to_num(signal, nan=0.0))
    turnover = np.abs(np.diff(position, prepend=0.0))
    return position * realized - turnover * fee_bps / 10_000


def annualised_sharpe(returns: np.ndarray, periods_per_year: float) -> float | None:
    """mean / sd (ddof 1) * √(periods per year); None when undefined."""
    if returns.size < 2 or returns.std(ddof=1) == 0:
        return None
    return float(returns.mean() / returns.std(ddof=1) * math.sqrt(periods_per_year))


def _hit_rate(signal: np.ndarray, realized: np.ndarray) -> float | None:
    called = np.isfinite(signal) & (signal != 0)
    return float((np.sign(signal[called]) == np.sign(realized[called])).mean()) if called.any() else None


@dataclass(frozen=True)
class WalkForward:
    horizon: int
    k: int
    fee_bps: float
    days: list[date]
    signal: np.ndarray
    realized: np.ndarray
    strategy: dict
    baseline: dict
    equity: dict[str, list[float]]
    notes: list[str]

    def as_dict(self) -> dict:
        return {
            "horizon": self.horizon,
            "k": self.k,
            "fee_bps": self.fee_bps,
            "periods": len(self.days),
            "strategy": self.strategy,
            "baseline": self.baseline,
            "equity": [
                {"day": day, **{name: curve[row] for name, curve in self.equity.items()}}
                for row, day in enumerate(self.days)
            ],
            "notes": self.notes,
        }


def walk_forward(
    corpus: Corpus,
    start: date,
    end: date,
    *,
    horizon: int = 5,
    k: int = 20,
    weights: Weights | None = None,
    fee_bps: float = 10,
    baseline_runs: int = 20,
    seed: int = 0,
) -> WalkForward:
    """Evaluate the analog signal every ``horizon`` bars in [start, end] against realized
    returns and against a random-analog baseline."""
    _check_horizon_k(horizon, k)
    _require_market(corpus)
    matrix = corpus_matrix(corpus)
    first, last = matrix.days[0].astype(date), matrix.days[-1].astype(date)
    for name, value in (("start", start), ("end", end)):
        if not first <= value <= last:
            raise ApplicationError(
                f"{name} {value} is outside this corpus ({first} to {last}).", fields={name: ["Outside the corpus."]}
            )
    if start > end:
        raise ApplicationError("The start date is after the end date.", fields={"start": ["After the end."]})
    return walk_forward_matrix(
        matrix,
        start,
        end,
        horizon=horizon,
        k=k,
        weights=weights or Weights(),
        fee_bps=fee_bps,
        baseline_runs=baseline_runs,
        seed=seed,
    )


def walk_forward_matrix(
    matrix: CorpusMatrix,
    start: date,
    end: date,
    *,
    horizon: int,
    k: int,
    weights: Weights,
    fee_bps: float,
    baseline_runs: int,
    seed: int,
) -> WalkForward:
    """``walk_forward`` on arrays (no database)."""
    _require_some_weight(weights)
    forward = matrix.forward_return(horizon)
    lower, upper = np.datetime64(start, "D"), np.datetime64(end, "D")
    candidates = np.flatnonzero(
        (matrix.bar >= 0) & (matrix.days >= lower) & (matrix.days <= upper) & np.isfinite(forward)
    )
    evaluated = candidates[::horizon]  # consecutive bars, so every horizon-th: windows abut, never overlap
    if evaluated.size < 2:
        raise ApplicationError(
            f"The period holds {evaluated.size} evaluation day(s) with a known {horizon}-bar outcome; widen it.",
            fields={"end": ["Too short a period."]},
        )
    rng = np.random.default_rng(seed)
    realized = forward[evaluated]
    signal = np.full(evaluated.size, np.nan)
    random_signal = np.full((baseline_runs, evaluated.size), np.nan)
    for row, index in enumerate(evaluated.tolist()):
        found = analog_signal_matrix(matrix, index, horizon=horizon, k=k, weights=weights)
        if found.expected_return is None:
            continue
        signal[row] = found.expected_return
        pool = np.flatnonzero(eligible_mask(matrix, horizon, matrix.days[index]))  # consecutive bars from the first
        sets = spaced_random_sets(rng, pool.size, len(found.analogs_used), horizon, baseline_runs)
        random_signal[:, row] = forward[pool[sets]].mean(axis=1)
    per_year = matrix.bars_per_year() / horizon
    strategy = _strategy_metrics(signal, realized, fee_bps, per_year)
    runs = [_strategy_metrics(random_signal[run], realized, fee_bps, per_year) for run in range(baseline_runs)]
    random_equity = np.array([np.cumprod(1 + long_short_returns(sig, realized, fee_bps)) for sig in random_signal])
    return WalkForward(
        horizon=horizon,
        k=k,
        fee_bps=fee_bps,
        days=[matrix.days[index].astype(date) for index in evaluated],
        signal=signal,
        realized=realized,
        strategy=strategy,
        baseline=_baseline_metrics(runs, strategy, baseline_runs),
        equity={
            "analog": np.cumprod(1 + long_short_returns(signal, realized, fee_bps)).tolist(),
            "random_median": np.median(random_equity, axis=0).tolist(),
            "buy_and_hold": np.cumprod(1 + realized).tolist(),
        },
        notes=_walk_forward_notes(int(np.isfinite(signal).sum()), evaluated.size, horizon, fee_bps),
    )


def _strategy_metrics(signal: np.ndarray, realized: np.ndarray, fee_bps: float, per_year: float) -> dict:
    returns = long_short_returns(signal, realized, fee_bps)
    return {
        "signals": int(np.isfinite(signal).sum()),
        "hit_rate": _hit_rate(signal, realized),
        "information_coefficient": spearman(signal, realized),
        "sharpe": annualised_sharpe(returns, per_year),
        "total_return": float(np.prod(1 + returns) - 1),
    }


def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    known = np.array([value for value in values if value is not None])
    if not known.size:
        return None, None
    return float(known.mean()), float(known.std(ddof=1)) if known.size > 1 else None


def _baseline_metrics(runs: list[dict], strategy: dict, count: int) -> dict:
    out: dict = {"runs": count}
    for name in ("hit_rate", "information_coefficient", "sharpe", "total_return"):
        out[f"{name}_mean"], out[f"{name}_std"] = _mean_std([run[name] for run in runs])
    sharpes = [run["sharpe"] for run in runs if run["sharpe"] is not None]
    out["share_of_runs_beaten"] = (
        float(np.mean([strategy["sharpe"] > value for value in sharpes]))
        if strategy["sharpe"] is not None and sharpes
        else None
    )
    return out


def _walk_forward_notes(with_signal: int, periods: int, horizon: int, fee_bps: float) -> list[str]:
    notes = [
        f"{periods} non-overlapping {horizon}-bar periods; the position is the sign of the analogs' mean return, "
        f"and {fee_bps:g} bps is charged per unit of position change (a flip from long to short pays twice).",
        "The baseline draws random analogs from the same point-in-time pool, spaced the same way: a strategy that "
        "does not beat most baseline runs has shown no skill, whatever its own Sharpe.",
    ]
    if with_signal < periods:
        notes.append(f"{periods - with_signal} period(s) had no eligible analog yet and stayed flat.")
    if periods < SMALL_SAMPLE:
        notes.append(f"Only {periods} periods: Sharpe and hit rate are very noisy; evaluate a longer period.")
    return notes


# ---------------------------------------------------------------- charts

HEATMAP_NOTE = (
    "Each cell is one comparison, with no allowance for overlapping windows: with dozens of cells some will look "
    "large by chance alone. Test a cell that interests you with an analysis filtered on that aspect, and confirm "
    "it on other data."
)


def aspect_heatmap(corpus: Corpus, horizon: int | None = None, *, min_days: int = MIN_HEATMAP_DAYS) -> dict:
    """For each aspect on at least ``min_days`` days: mean forward return on its days minus the
    unconditional mean, with counts; columns are ``horizon`` or every horizon."""
    if horizon is not None:
        _check_horizon_k(horizon, K_MIN)
    return aspect_heatmap_matrix(corpus_matrix(corpus), (horizon,) if horizon else HORIZONS, min_days=min_days)


def aspect_heatmap_matrix(matrix: CorpusMatrix, horizons: tuple[int, ...], *, min_days: int) -> dict:
    names = sorted({name for row in matrix.aspects for name in row})
    column = {name: at for at, name in enumerate(names)}
    incidence = np.zeros((len(matrix), len(names)), dtype=np.float64)
    rows = [day for day, aspects in enumerate(matrix.aspects) for _ in aspects]
    incidence[rows, [column[name] for aspects in matrix.aspects for name in aspects]] = 1.0
    baseline, cells = {}, {}
    for horizon in horizons:
        forward = matrix.forward_return(horizon)
        known = np.isfinite(forward)
        counts = incidence[known].sum(axis=0)
        sums = incidence[known].T @ forward[known]
        mean = float(forward[known].mean()) if known.any() else None
        baseline[str(horizon)] = mean
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        cells[horizon] = (counts, means, mean)
    out_rows = []
    for at, name in enumerate(names):
        row_cells = []
        for horizon in horizons:
            counts, means, mean = cells[horizon]
            enough = counts[at] >= min_days and mean is not None
            row_cells.append(
                {
                    "horizon": horizon,
                    "days": int(counts[at]),
                    "mean": float(means[at]) if enough else None,
                    "difference": float(means[at] - mean) if enough else None,
                }
            )
        if any(cell["days"] >= min_days for cell in row_cells):
            out_rows.append({"aspect": name, "cells": row_cells})
    return {
        "horizons": list(horizons),
        "min_days": min_days,
        "baseline_mean": baseline,
        "rows": out_rows,
        "notes": [HEATMAP_NOTE],
    }


def similarity_timeline(corpus: Corpus, request: SearchRequest) -> dict:
    """Every day's similarity to the query (for a chart), and whether it passes the filters."""
    matrix = corpus_matrix(corpus)
    query, active = build_query_vector(corpus, request)
    if query is None:
        raise ApplicationError(
            "A similarity timeline needs a text or a day to compare with.", fields={"text": ["Give a text or a day."]}
        )
    parts = {name: query[_SLICES[name]] / weight for name, weight in active.items()}
    scores = similarities(matrix, parts, request.weights)
    return {
        "days": matrix.days.astype(date).tolist(),
        "similarity": np.round(scores, 6).tolist(),
        "matches_filters": _filter_mask(corpus, request, matrix).tolist(),
    }
