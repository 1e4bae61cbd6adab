"""Celery tasks of the candle store (default ``celery`` queue). ``ingest_series`` takes a series id,
loads the row and calls ``ingestion.series_ingest``; the series row is the progress record
(``ingest_status``, ``ingest_cursor``, ``ingest_progress``), since the project runs Celery without
a result backend. ``ingest_funding_rates`` collects one perpetual's funding events
(``ingestion.funding_rates_ingest``); the store's newest event is its cursor.

Safe to run twice or concurrently: a Redis lock per series lets one run at a time (a duplicate
returns at once), and a repeated page is only counted as duplicates. A run collects at most
``PAGES_PER_RUN`` pages and then enqueues its continuation, so a long backfill never meets the
task time limit; a run that fails resumes from the cursor when retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

from celery import shared_task
from django.core.cache import cache
from django.db import transaction

from trading.marketdata.ingestion import IngestResult, SourcesFailed, funding_rates_ingest, series_ingest
from trading.marketdata.selectors import series_key_of
from trading.models import CandleSeries

PAGES_PER_RUN = 200
MAX_RETRIES = 8
BACKOFF_FIRST_SECONDS = 10
BACKOFF_MAX_SECONDS = 15 * 60
LOCK_SECONDS = 10 * 60  # longer than the task's hard time limit


def backoff_seconds(retries: int, *, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, never shorter than what the exchange asked for."""
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2**retries)
    delay *= 1 + random.random() / 4  # spread retries of many series over time
    return max(delay, retry_after or 0)


@shared_task(bind=True, name="trading.marketdata.tasks.ingest_series", max_retries=MAX_RETRIES)
def ingest_series(
    self, series_id: int, start: str | None = None, end: str | None = None, pages_per_run: int = PAGES_PER_RUN
) -> dict:
    """Collect one series (``start``/``end`` ISO 8601, optional) from its cursor; see the module docstring."""
    row = CandleSeries.objects.filter(pk=series_id).first()
    if row is None:
        return {"skipped": f"no candle series {series_id}"}
    return _run_locked(
        self,
        f"marketdata:ingest:{series_id}",
        lambda: series_ingest(
            series=series_key_of(row),
            start=datetime.fromisoformat(start) if start else None,
            end=datetime.fromisoformat(end) if end else None,
            max_pages=pages_per_run,
        ),
        continuation=lambda: ingest_series.delay(series_id, start, end, pages_per_run),
    )


@shared_task(bind=True, name="trading.marketdata.tasks.ingest_funding_rates", max_retries=MAX_RETRIES)
def ingest_funding_rates(
    self, exchange: str, symbol: str, start: str | None = None, pages_per_run: int = PAGES_PER_RUN
) -> dict:
    """Collect the funding events of ``symbol`` on ``exchange`` after the newest stored one (or
    ``start``, ISO 8601); see the module docstring."""
    return _run_locked(
        self,
        f"marketdata:funding:{exchange}:{symbol}",
        lambda: funding_rates_ingest(
            exchange=exchange,
            symbol=symbol,
            start=datetime.fromisoformat(start) if start else None,
            max_pages=pages_per_run,
        ),
        continuation=lambda: ingest_funding_rates.delay(exchange, symbol, start, pages_per_run),
    )


def _run_locked(task, lock: str, run: Callable[[], IngestResult], *, continuation: Callable[[], object]) -> dict:
    """Run one ingestion under a Redis lock: retry with backoff when a retry can help, enqueue the
    continuation when it stopped before catching up."""
    if not cache.add(lock, task.request.id or "eager", timeout=LOCK_SECONDS):
        return {"skipped": "already running"}
    failure: SourcesFailed | None = None
    try:
        result = run()
    except SourcesFailed as error:
        failure = error
    finally:
        cache.delete(lock)  # before a retry, which runs inline in eager mode
    if failure is not None:
        if failure.retryable:
            countdown = backoff_seconds(task.request.retries, retry_after=failure.retry_after)
            raise task.retry(exc=failure, countdown=countdown)
        raise failure
    if not result.caught_up:
        transaction.on_commit(continuation)
    return result.as_json()


@shared_task(name="trading.marketdata.tasks.ingest_enabled_series")
def ingest_enabled_series() -> int:
    """Enqueue collection of every series with ``ingest_enabled`` (run periodically by beat)."""
    ids = list(CandleSeries.objects.filter(ingest_enabled=True).values_list("pk", flat=True))
    for series_id in ids:
        transaction.on_commit(lambda series_id=series_id: ingest_series.delay(series_id))
    return len(ids)
