"""Choosing analog days: similarity to the query, point-in-time eligibility, the query's
filters, and greedy spacing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from patterns.models import Corpus
from patterns.services.analysis.matrix import CorpusMatrix
from patterns.services.search import COMPONENTS, SearchRequest, Weights, _filter_sql
from patterns.services.vectors import vector_connection


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


def filter_mask(corpus: Corpus, request: SearchRequest, matrix: CorpusMatrix) -> np.ndarray:
    """Days passing the query's structured filters, with search's own SQL (one semantics)."""
    where, params = _filter_sql(corpus, request)
    with vector_connection() as raw, raw.cursor() as cursor:
        # ``where`` is search's own clause: fixed SQL text with %s placeholders only.
        # Day numbers (days since 1970-01-01) as integers: no date object per row to convert.
        cursor.execute(f"SELECT day - DATE '1970-01-01' FROM patterns_dayvector WHERE {where}", params)
        days = np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64)
    return np.isin(matrix.day_numbers, days)


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
