"""Indexing a corpus: embed new headlines, then (re)build the ``DayVector`` rows of days that
are new or changed. Incremental by default: a day is rewritten only when its headline count,
its market bar or its forward returns changed since the last run.

Progress lives on the corpus row (``status``, ``progress_done``/``progress_total``), which the
pages poll; a PostgreSQL advisory lock lets one run per corpus at a time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from patterns.encoders import astro, market, news
from patterns.models import Corpus, DayVector
from patterns.services.astro_table import astro_table_read
from patterns.services.vectors import copy_rows, fetch_vectors
from trading.marketdata.candles import SeriesKey
from trading.marketdata.selectors import candle_arrays

logger = logging.getLogger(__name__)

EMBED_BATCH = 1024
MARKET_STALE_DAYS = 4  # a news day uses the latest bar at most this many days old (weekends, holidays)
_LOCK_NAMESPACE = 71_003  # advisory lock key space of corpus indexing


@dataclass(frozen=True)
class IndexReport:
    headlines_embedded: int
    days_written: int
    days_removed: int
    day_count: int
    complete: bool = True

    def as_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass(frozen=True)
class _Days:
    """Everything about the corpus' days, as aligned arrays."""

    days: np.ndarray  # datetime64[D]
    headline_counts: np.ndarray  # int
    news: np.ndarray  # (n, 384) float32, zero rows where no news
    market: np.ndarray  # (n, MARKET_DIM) float32, zero rows where no market state
    has_market: np.ndarray  # bool
    close: np.ndarray  # float64, NaN where no bar that day
    forward: np.ndarray  # (n, len(HORIZONS)) float64


class CorpusBusy(Exception):
    """Another run is indexing this corpus."""


def corpus_index(corpus_id: int, *, full: bool = False, embed_seconds: float | None = None) -> IndexReport:
    """Index corpus ``corpus_id``; raises ``CorpusBusy`` when another run holds it. With
    ``embed_seconds``, a run stops embedding after that long and returns ``complete=False``
    (each batch is already committed): the caller continues it in a new run, so a large
    corpus never meets a task time limit."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, corpus_id])
        if not cursor.fetchone()[0]:
            raise CorpusBusy(f"corpus {corpus_id} is being indexed")
    try:
        corpus = Corpus.all_objects.filter(pk=corpus_id).first()  # a system job, by id
        if corpus is None:  # deleted after the run was queued
            return IndexReport(0, 0, 0, 0)
        _set_status(corpus, Corpus.Status.INDEXING, "Embedding headlines")
        try:
            report = _index(corpus, full=full, embed_seconds=embed_seconds)
        except Exception as error:
            _set_status(corpus, Corpus.Status.FAILED, f"Indexing failed: {type(error).__name__}")
            raise
        return report
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, corpus_id])


def _set_status(corpus: Corpus, status: str, message: str, **extra) -> None:
    corpus.status = status
    corpus.status_message = message
    corpus.status_changed_at = timezone.now()
    for name, value in extra.items():
        setattr(corpus, name, value)
    corpus.save(update_fields=["status", "status_message", "status_changed_at", *extra])


def corpora_requeue_stuck(*, older_than: timedelta) -> list[int]:
    """Send indexing again for corpora left "indexing" longer than ``older_than`` with no run
    holding them (the enqueue was lost: broker down, worker killed before acking). A run updates
    the status at every step, so a corpus being indexed is never that old; a duplicate send is
    harmless (a run finding the corpus busy retries, one finding nothing to do ends)."""
    from patterns.services.corpora import corpus_index_enqueue

    stale = Corpus.all_objects.filter(status=Corpus.Status.INDEXING, status_changed_at__lt=timezone.now() - older_than)
    requeued = []
    for corpus_id in stale.values_list("pk", flat=True):
        if not _index_lock_free(corpus_id):
            continue
        Corpus.all_objects.filter(pk=corpus_id).update(status_changed_at=timezone.now())  # once per period
        if corpus_index_enqueue(corpus_id):
            requeued.append(corpus_id)
    if requeued:
        logger.info("patterns.indexing_requeued corpus_ids=%s", requeued)
    return requeued


def _index_lock_free(corpus_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, corpus_id])
        if not cursor.fetchone()[0]:
            return False
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, corpus_id])
    return True


def _index(corpus: Corpus, *, full: bool, embed_seconds: float | None) -> IndexReport:
    embedded, pending = _embed_pending_headlines(corpus, embed_seconds)
    if pending:
        _set_status(corpus, Corpus.Status.INDEXING, f"Embedding headlines ({pending:,} to go)")
        return IndexReport(embedded, 0, 0, corpus.day_count, complete=False)
    _set_status(corpus, Corpus.Status.INDEXING, "Encoding days")
    days = _collect_days(corpus)
    if days.days.size:
        table = astro_table_read(days.days[0].astype(date), days.days[-1].astype(date))
        written, removed = _write_days(corpus, days, table, full=full)
    else:
        written, removed = 0, _remove_all_days(corpus)
    counts = _coverage(corpus)
    changed = bool(embedded or written or removed)
    _set_status(
        corpus,
        Corpus.Status.READY,
        f"Indexed {counts['day_count']:,} days" if counts["day_count"] else "No days to index yet",
        indexed_at=timezone.now(),
        version=corpus.version + 1 if changed or corpus.version == 0 else corpus.version,
        **counts,
    )
    logger.info("corpus indexed", extra={"corpus_id": corpus.pk, "embedded": embedded, "days_written": written})
    return IndexReport(embedded, written, removed, counts["day_count"])


# ---------------------------------------------------------------- headlines


def _embed_pending_headlines(corpus: Corpus, budget_seconds: float | None) -> tuple[int, int]:
    """Embed headlines without a vector, a committed batch at a time; returns (embedded, still pending)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM patterns_headline WHERE corpus_id = %s AND vector IS NULL", [corpus.pk])
        pending = cursor.fetchone()[0]
    _set_status(corpus, Corpus.Status.INDEXING, "Embedding headlines", progress_done=0, progress_total=pending)
    started = time.monotonic()
    done = 0
    last_id = 0
    while done < pending:
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            return done, pending - done
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, text FROM patterns_headline WHERE corpus_id = %s AND vector IS NULL AND id > %s "
                "ORDER BY id LIMIT %s",
                [corpus.pk, last_id, EMBED_BATCH],
            )
            batch = cursor.fetchall()
        if not batch:
            break
        vectors = news.encode([text for _, text in batch])
        _store_headline_vectors([row_id for row_id, _ in batch], vectors)
        last_id = batch[-1][0]
        done += len(batch)
        Corpus.all_objects.filter(pk=corpus.pk).update(progress_done=done)
    return done, 0


def _store_headline_vectors(ids: list[int], vectors: np.ndarray) -> None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS patterns_new_vectors "
                f"(id bigint, vector vector({news.EMBEDDING_DIM})) "
                "ON COMMIT DELETE ROWS"
            )
        copy_rows("patterns_new_vectors", ("id", "vector"), ("int8", "vector"), zip(ids, vectors, strict=True))
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE patterns_headline h SET vector = n.vector FROM patterns_new_vectors n WHERE h.id = n.id"
            )


# ---------------------------------------------------------------- days


def _news_by_day(corpus: Corpus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = fetch_vectors(
        "SELECT day, count(*), avg(vector) FROM patterns_headline "
        "WHERE corpus_id = %s AND vector IS NOT NULL GROUP BY day ORDER BY day",
        [corpus.pk],
    )
    days = np.array([row[0] for row in rows], dtype="datetime64[D]")
    counts = np.array([row[1] for row in rows], dtype=np.int64)
    means = np.array([row[2].to_numpy() for row in rows], dtype=np.float32).reshape(len(rows), news.EMBEDDING_DIM)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return days, counts, np.divide(means, norms, out=np.zeros_like(means), where=norms > 0)


def corpus_market_states(corpus: Corpus) -> market.MarketStates | None:
    """The market states of the corpus' daily series (closed bars only), or None."""
    if not corpus.has_market:
        return None
    series = SeriesKey(corpus.market_exchange, corpus.market_symbol, corpus.market_type or "spot", "1d")
    arrays = candle_arrays(series=series)
    closed = arrays.is_closed
    days = arrays.times[closed].astype("datetime64[D]")
    return market.market_states(days, arrays.close[closed], arrays.volume[closed])


def _collect_days(corpus: Corpus) -> _Days:
    news_days, counts, news_vectors = _news_by_day(corpus)
    states = corpus_market_states(corpus)
    market_days = states.days if states is not None else np.array([], dtype="datetime64[D]")
    days = np.union1d(news_days, market_days)
    lower = np.datetime64(max(corpus.first_day or astro.MIN_DATE, astro.MIN_DATE), "D")
    upper = np.datetime64(min(corpus.last_day or astro.MAX_DATE, astro.MAX_DATE), "D")
    days = days[(days >= lower) & (days <= upper)]
    n = days.size
    news_rows = np.zeros((n, news.EMBEDDING_DIM), dtype=np.float32)
    headline_counts = np.zeros(n, dtype=np.int64)
    at = np.searchsorted(days, news_days)
    inside = (at < n) & (days[np.minimum(at, max(n - 1, 0))] == news_days) if n else np.zeros(0, bool)
    news_rows[at[inside]] = news_vectors[inside]
    headline_counts[at[inside]] = counts[inside]
    market_rows = np.zeros((n, market.MARKET_DIM), dtype=np.float32)
    has_market = np.zeros(n, dtype=bool)
    close = np.full(n, np.nan)
    forward = np.full((n, len(market.HORIZONS)), np.nan)
    if states is not None and len(states) and n:
        # The latest bar at or before each day: its close is known on that day (point-in-time).
        latest = np.searchsorted(states.days, days, side="right") - 1
        known = latest >= 0
        age = np.where(known, (days - states.days[np.maximum(latest, 0)]).astype(np.int64), 10**9)
        usable = known & (age <= MARKET_STALE_DAYS) & states.has_vector()[np.maximum(latest, 0)]
        market_rows[usable] = states.vectors[latest[usable]]
        has_market = usable
        same_day = known & (age == 0)
        close[same_day] = states.close[latest[same_day]]
        forward[same_day] = states.forward_returns[latest[same_day]]
    return _Days(days, headline_counts, news_rows, market_rows, has_market, close, forward)


def _stored_state(corpus: Corpus) -> dict[date, tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT day, headline_count, market IS NOT NULL, forward_1, forward_5, forward_20 "
            "FROM patterns_dayvector WHERE corpus_id = %s",
            [corpus.pk],
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _state_of(days: _Days, row: int) -> tuple:
    forward = tuple(None if np.isnan(value) else float(value) for value in days.forward[row])
    return (int(days.headline_counts[row]), bool(days.has_market[row]), *forward)


def _write_days(corpus: Corpus, days: _Days, table, *, full: bool) -> tuple[int, int]:
    stored = _stored_state(corpus)
    as_dates = days.days.astype(date)
    dirty = [
        row
        for row, day in enumerate(as_dates)
        if full or day not in stored or not _same_state(stored[day], _state_of(days, row))
    ]
    removed_days = sorted(set(stored) - set(as_dates))
    astro_rows = table.rows_for(days.days)
    _set_status(corpus, Corpus.Status.INDEXING, "Writing days", progress_done=0, progress_total=len(dirty))
    with transaction.atomic():
        if removed_days:
            DayVector.objects.filter(corpus=corpus, day__in=removed_days).delete()
        if dirty:
            _upsert_days(corpus, days, table, astro_rows, dirty)
    return len(dirty), len(removed_days)


def _same_state(stored: tuple, fresh: tuple) -> bool:
    if stored[:2] != fresh[:2]:
        return False
    return all(
        (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-12)
        for a, b in zip(stored[2:], fresh[2:], strict=True)
    )


_DAY_COLUMNS = (
    "corpus_id",
    "day",
    "astro",
    "news",
    "market",
    "combined",
    "headline_count",
    "close",
    "forward_1",
    "forward_5",
    "forward_20",
    "retrograde",
    "moon_phase",
    "signs",
    "aspects",
)
_DAY_TYPES = (
    "int8",
    "date",
    "vector",
    "vector",
    "vector",
    "vector",
    "int4",
    "float8",
    "float8",
    "float8",
    "float8",
    "varchar[]",
    "int2",
    "int2[]",
    "varchar[]",
)


def _optional(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _day_rows(corpus: Corpus, days: _Days, table, astro_rows: np.ndarray, dirty: list[int]):
    for row in dirty:
        source = astro_rows[row]
        has_news = days.headline_counts[row] > 0
        combined = np.concatenate([table.vectors[source], days.news[row], days.market[row]])
        yield (
            corpus.pk,
            days.days[row].astype(date),
            table.vectors[source],
            days.news[row] if has_news else None,
            days.market[row] if days.has_market[row] else None,
            combined,
            int(days.headline_counts[row]),
            _optional(days.close[row]),
            *(_optional(value) for value in days.forward[row]),
            table.retrograde[source],
            int(table.moon_phase[source]),
            table.signs[source].tolist(),
            table.aspects[source],
        )


def _upsert_days(corpus: Corpus, days: _Days, table, astro_rows: np.ndarray, dirty: list[int]) -> None:
    columns = ", ".join(_DAY_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS patterns_new_days ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM patterns_dayvector WITH NO DATA"
        )
    copy_rows("patterns_new_days", _DAY_COLUMNS, _DAY_TYPES, _day_rows(corpus, days, table, astro_rows, dirty))
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in _DAY_COLUMNS[2:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO patterns_dayvector ({columns}) SELECT {columns} FROM patterns_new_days "
            f"ON CONFLICT (corpus_id, day) DO UPDATE SET {updates}"
        )


def _remove_all_days(corpus: Corpus) -> int:
    deleted, _ = DayVector.objects.filter(corpus=corpus).delete()
    return deleted


def _coverage(corpus: Corpus) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE headline_count > 0), count(*) FILTER (WHERE close IS NOT NULL), "
            "min(day), max(day), "
            "min(day) FILTER (WHERE headline_count > 0), max(day) FILTER (WHERE headline_count > 0), "
            "min(day) FILTER (WHERE close IS NOT NULL), max(day) FILTER (WHERE close IS NOT NULL) "
            "FROM patterns_dayvector WHERE corpus_id = %s",
            [corpus.pk],
        )
        day_count, news_days, market_days, *ranges = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM patterns_headline WHERE corpus_id = %s", [corpus.pk])
        headlines = cursor.fetchone()[0]
    return {
        "day_count": day_count,
        "news_day_count": news_days,
        "market_day_count": market_days,
        "headline_count": headlines,
        **dict(zip(("days_from", "days_to", "news_from", "news_to", "market_from", "market_to"), ranges, strict=True)),
    }
