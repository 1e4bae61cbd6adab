"""A corpus' day index as aligned numpy arrays, loaded once per (corpus, version) and kept in a
small per-process LRU."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import numpy as np
import psycopg

from asterweb.errors import ApplicationError
from patterns.encoders.market import HORIZONS
from patterns.models import Corpus
from patterns.services.search import COMPONENTS
from patterns.services.vectors import vector_connection

_MATRIX_CACHE_SIZE = 4
_NO_END = np.iinfo(np.int64).max  # a forward window that ends past the corpus' last bar


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
    with vector_connection() as raw, psycopg.Cursor(raw) as cursor:
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
