"""Collecting candles from exchanges: paged, resumable, through a fallback chain of sources.

A series is collected page by page from its cursor (``CandleSeries.ingest_cursor``, the open time
of the newest closed candle already handled) up to the present. Each page is asked of the
series' sources in order (``CandleSeries.sources``, e.g. ``["aster", "binance"]``; empty means
the series' own exchange): when one fails with an exchange error the next is asked for the same
window, and the next window starts again with the first. Every candle records which source
supplied it (``Candle.source``). The page and the cursor are saved in one transaction, so a run
that stops (a failure, a time limit, a crash) resumes where it stopped, and a repeated page is
harmless (``candles_upsert`` counts it as duplicates).

Funding rates (``funding_rates_ingest``) are collected the same way, page by page from a cursor,
with two differences: the cursor is the newest stored funding time (events are final when
published, so the store itself says where to resume), and the only source is the exchange itself
(another venue's funding is another market's, never a fallback).

Only the adapter protocol is used (``ExchangeAdapter.fetch_ohlcv``, ``fetch_funding_rate_history``).
Retrying with backoff is the task's job (``tasks.py``): this module raises ``SourcesFailed`` saying
whether a retry can help.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from trading.exchanges.base import (
    Candle,
    ExchangeAdapter,
    ExchangeError,
    ExchangeUnavailable,
    FundingRate,
    RateLimited,
)
from trading.marketdata.candles import SeriesKey, candle_problem
from trading.marketdata.selectors import funding_rate_last_time
from trading.marketdata.services import (
    UpsertResult,
    candles_upsert,
    funding_rate_problem,
    funding_rates_upsert,
    series_get_or_create,
)
from trading.models import CandleSeries

AdapterFactory = Callable[[str], ExchangeAdapter]
T = TypeVar("T")

PAGE_LIMIT = 500  # candles per request; most exchanges allow 500-1500
DETAIL_LIMIT = 100


class SourcesFailed(ExchangeError):
    """Every source of a series failed for one window. ``retryable`` when at least one failure
    was transient (rate limit, unavailable); ``retry_after`` the longest wait a source asked for."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class FundingSeries:
    """The funding events of one perpetual on one exchange."""

    exchange: str
    symbol: str

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} funding"


@dataclass
class IngestResult:
    series: SeriesKey | FundingSeries
    pages: int = 0
    fetched: int = 0
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)  # the first DETAIL_LIMIT
    failures: list[str] = field(default_factory=list)  # sources that failed a window, then fell back
    supplied: dict[str, int] = field(default_factory=dict)  # source exchange id -> candles it supplied
    stored: UpsertResult = field(default_factory=UpsertResult)
    cursor: datetime | None = None
    caught_up: bool = False  # reached the present (or ``end``); False when ``max_pages`` stopped it

    def as_json(self) -> dict:
        return {
            "pages": self.pages,
            "fetched": self.fetched,
            "inserted": self.stored.inserted,
            "duplicate": self.stored.duplicate,
            "conflicting": self.stored.conflicting,
            "updated_forming": self.stored.updated_forming,
            "rejected": self.rejected,
            "supplied": self.supplied,
            "failures": self.failures[-10:],
            "cursor": self.cursor.isoformat() if self.cursor else None,
            "caught_up": self.caught_up,
        }


def adapter_for_source(exchange_id: str) -> ExchangeAdapter:
    """A public-data adapter for ``exchange_id``: ``settings.MARKETDATA_ADAPTER_FACTORY`` (a dotted
    path to a ``factory(exchange_id)``) when set, else the exchange registry's."""
    dotted = getattr(settings, "MARKETDATA_ADAPTER_FACTORY", None)
    if dotted:
        return import_string(dotted)(exchange_id)
    from trading.exchanges.registry import adapter_for  # CCXT is imported only when collecting

    return adapter_for(exchange_id)


def series_ingest(
    *,
    series: SeriesKey,
    adapter_for: AdapterFactory = adapter_for_source,
    start: datetime | None = None,
    end: datetime | None = None,
    page_limit: int = PAGE_LIMIT,
    max_pages: int | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """Collect ``series`` from its cursor (or ``start``, whichever is later) to the present or
    ``end``, at most ``max_pages`` pages. A series with neither cursor nor ``start`` collects its
    latest page only. Raises ``SourcesFailed`` after saving what it stored, when every source
    failed for a window."""
    now = now or timezone.now()
    row = series_get_or_create(series=series)
    sources = list(row.sources or [series.exchange])
    step = timedelta(seconds=series.step)
    result = IngestResult(series=series, cursor=row.ingest_cursor)
    since = _first_window(row.ingest_cursor, step=step, start=start, default=now - step * page_limit)
    _mark(row, status=CandleSeries.IngestStatus.RUNNING, started=now)
    adapters: dict[str, ExchangeAdapter] = {}
    try:
        while max_pages is None or result.pages < max_pages:
            if since > now or (end is not None and since >= end):
                result.caught_up = True
                break
            page, source = _fetch_window(
                series,
                sources,
                adapters,
                adapter_for,
                lambda adapter, since=since: adapter.fetch_ohlcv(
                    series.symbol, series.timeframe, since=since, limit=page_limit
                ),
                since,
                result,
            )
            page = _within(page, since=since, end=end)
            if not page:
                result.caught_up = True
                break
            _store_page(row, series, page, source, result, now=now)
            newest = page[-1].open_time
            if newest + step > now:
                result.caught_up = True  # reached the forming candle
                break
            since = newest + step
    except Exception as error:
        _mark(row, status=CandleSeries.IngestStatus.FAILED, error=f"{type(error).__name__}: {error}", result=result)
        raise
    _mark(row, status=CandleSeries.IngestStatus.OK, result=result)
    return result


def _first_window(
    cursor: datetime | None, *, step: timedelta, start: datetime | None, default: datetime | None
) -> datetime | None:
    after_cursor = cursor + step if cursor else None
    if start and after_cursor:
        return max(start, after_cursor)
    return start or after_cursor or default


def _fetch_window(
    series: SeriesKey | FundingSeries,
    sources: list[str],
    adapters: dict[str, ExchangeAdapter],
    adapter_for: AdapterFactory,
    fetch: Callable[[ExchangeAdapter], list[T]],
    since: datetime | None,
    result: IngestResult,
) -> tuple[list[T], str]:
    """One page (``fetch`` of an adapter) from the first source that answers; raises
    SourcesFailed when none does."""
    window = f"{since:%Y-%m-%d %H:%M}" if since else "latest"
    errors: list[tuple[str, ExchangeError]] = []
    for source in sources:
        try:
            if source not in adapters:
                adapters[source] = adapter_for(source)
            return fetch(adapters[source]), source
        except ExchangeError as error:
            errors.append((source, error))
            if len(result.failures) < DETAIL_LIMIT:
                result.failures.append(f"{window} {source}: {type(error).__name__}: {error}")
    transient = [error for _, error in errors if isinstance(error, (RateLimited, ExchangeUnavailable))]
    waits = [error.retry_after for error in transient if isinstance(error, RateLimited) and error.retry_after]
    described = "; ".join(f"{source}: {type(error).__name__}: {error}" for source, error in errors)
    when = f"from {window} UTC" if since else "for its latest page"
    raise SourcesFailed(
        f"Every source failed for {series} {when} ({described}).",
        retryable=bool(transient),
        retry_after=max(waits) if waits else None,
    )


def _within(page: list[Candle], *, since: datetime, end: datetime | None) -> list[Candle]:
    """The page's candles in ``[since, end)``, one per open time (the last one sent wins), sorted."""
    by_time = {candle.open_time: candle for candle in page if candle.open_time >= since}
    return [by_time[moment] for moment in sorted(by_time) if end is None or moment < end]


def _store_page(
    row: CandleSeries, series: SeriesKey, page: list[Candle], source: str, result: IngestResult, *, now: datetime
) -> None:
    """Store the page's valid candles and move the cursor past its closed ones, atomically."""
    step = timedelta(seconds=series.step)
    good = []
    for candle in page:
        problem = candle_problem(candle, step=series.step, origin=series.origin)
        if problem:
            result.rejected += 1
            if len(result.rejections) < DETAIL_LIMIT:
                result.rejections.append(f"{source} {candle.open_time:%Y-%m-%d %H:%M}: {problem}")
        else:
            good.append(candle)
    closed = [candle.open_time for candle in page if candle.is_closed and candle.open_time + step <= now]
    with transaction.atomic():
        result.stored.merge(candles_upsert(series=series, candles=good, source=source, now=now))
        if closed and (result.cursor is None or max(closed) > result.cursor):
            result.cursor = max(closed)
        result.pages += 1
        result.fetched += len(page)
        result.supplied[source] = result.supplied.get(source, 0) + len(good)
        row.ingest_cursor = result.cursor
        row.ingest_progress = result.as_json()
        row.save(update_fields=["ingest_cursor", "ingest_progress", "updated_at"])


def _mark(
    row: CandleSeries,
    *,
    status: str,
    started: datetime | None = None,
    error: str = "",
    result: IngestResult | None = None,
) -> None:
    row.ingest_status = status
    row.ingest_error = error
    fields = ["ingest_status", "ingest_error", "updated_at"]
    if started:
        row.ingest_started_at, row.ingest_finished_at = started, None
        fields += ["ingest_started_at", "ingest_finished_at"]
    if result is not None:
        row.ingest_finished_at = timezone.now()
        row.ingest_progress = result.as_json()
        fields += ["ingest_finished_at", "ingest_progress"]
    row.save(update_fields=fields)


def series_ingest_configure(
    *, series: SeriesKey, sources: list[str] | None = None, enabled: bool | None = None
) -> CandleSeries:
    """Set the fallback chain (exchange ids, in order) and whether periodic ingestion collects it."""
    row = series_get_or_create(series=series)
    if sources is not None:
        row.sources = [source.strip().lower() for source in sources if source.strip()]
    if enabled is not None:
        row.ingest_enabled = enabled
    row.save(update_fields=["sources", "ingest_enabled", "updated_at"])
    return row


def series_ingest_reset(*, series: SeriesKey) -> CandleSeries:
    """Forget the cursor, so the next run collects from its ``start`` again (e.g. a deeper backfill)."""
    row = series_get_or_create(series=series)
    row.ingest_cursor = None
    row.ingest_status = CandleSeries.IngestStatus.IDLE
    row.ingest_error = ""
    row.save(update_fields=["ingest_cursor", "ingest_status", "ingest_error", "updated_at"])
    return row


# --- funding rates -----------------------------------------------------------------------------

FUNDING_CURSOR_STEP = timedelta(milliseconds=1)  # the venues' time resolution


def funding_rates_ingest(
    *,
    exchange: str,
    symbol: str,
    adapter_for: AdapterFactory = adapter_for_source,
    start: datetime | None = None,
    end: datetime | None = None,
    page_limit: int = PAGE_LIMIT,
    max_pages: int | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """Collect the settled funding events of the perpetual ``symbol`` on ``exchange`` after the
    newest stored one (or from ``start``, whichever is later) up to the present or ``end``, at most
    ``max_pages`` pages. With nothing stored and no ``start``, the venue's latest page. Raises
    ``SourcesFailed`` after saving what it stored, when the exchange fails."""
    now = now or timezone.now()
    series = FundingSeries(exchange, symbol)
    result = IngestResult(series=series, cursor=funding_rate_last_time(exchange=exchange, symbol=symbol))
    since = _first_window(result.cursor, step=FUNDING_CURSOR_STEP, start=start, default=None)
    adapters: dict[str, ExchangeAdapter] = {}
    while max_pages is None or result.pages < max_pages:
        if since is not None and (since > now or (end is not None and since >= end)):
            result.caught_up = True
            break
        page, _ = _fetch_window(
            series,
            [exchange],
            adapters,
            adapter_for,
            lambda adapter, since=since: adapter.fetch_funding_rate_history(symbol, since=since, limit=page_limit),
            since,
            result,
        )
        page = _funding_within(page, since=since, end=end, now=now)
        times = [rate.funding_time for rate in page if _aware(rate.funding_time)]
        if not times:
            result.caught_up = True
            break
        _store_funding_page(series, page, result, now=now)
        since = max(times) + FUNDING_CURSOR_STEP
    return result


def _aware(moment: datetime | None) -> bool:
    return moment is not None and moment.tzinfo is not None


def _funding_within(
    page: list[FundingRate], *, since: datetime | None, end: datetime | None, now: datetime
) -> list[FundingRate]:
    """The page's events in ``[since, end)`` and not in the future, one per time (the last one sent
    wins); events without an aware time stay, to be rejected with a reason."""
    timed: dict[datetime, FundingRate] = {}
    untimed = []
    for rate in page:
        moment = rate.funding_time
        if not _aware(moment):
            untimed.append(rate)
        elif (since is None or moment >= since) and moment <= now and (end is None or moment < end):
            timed[moment] = rate
    return [timed[moment] for moment in sorted(timed)] + untimed


def _store_funding_page(series: FundingSeries, page: list[FundingRate], result: IngestResult, *, now: datetime) -> None:
    good = []
    for rate in page:
        problem = funding_rate_problem(rate)
        if problem:
            result.rejected += 1
            if len(result.rejections) < DETAIL_LIMIT:
                result.rejections.append(f"{series.exchange} {rate.funding_time}: {problem}")
        else:
            good.append(rate)
    with transaction.atomic():
        result.stored.merge(funding_rates_upsert(exchange=series.exchange, symbol=series.symbol, rates=good, now=now))
    result.pages += 1
    result.fetched += len(page)
    result.supplied[series.exchange] = result.supplied.get(series.exchange, 0) + len(good)
    if good:
        newest = max(rate.funding_time for rate in good)
        result.cursor = newest if result.cursor is None else max(result.cursor, newest)
