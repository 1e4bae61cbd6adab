"""Reads from the candle store.

``candles_range`` gives model rows (Decimal, for the API and small ranges); ``candle_arrays``
gives numpy arrays for analytics and backtests without a Python object per row: the stored
NUMERIC values stream out as binary ``COPY`` and are decoded to the nearest float64 by vectorized
numpy (``pgcopy``). The arrays are float64 *copies* for computation; money stays Decimal in the
database. Funding rates: ``funding_rates_between`` and ``funding_rate_last_time``.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from django.db.models import QuerySet

from trading.marketdata.blocks import range_arrays
from trading.marketdata.candles import PRICE_FIELDS, CandleArrays, SeriesKey, epoch_seconds, from_epoch
from trading.marketdata.gaps import Gap, gaps_find
from trading.marketdata.pgcopy import Column, query_columns
from trading.models import Candle, CandleSeries, FundingRate

CANDLE_COLUMNS = (Column.TIMESTAMPTZ, Column.BOOL, *(Column.NUMERIC,) * len(PRICE_FIELDS))


def candles_range(*, series: SeriesKey, start: datetime | None = None, end: datetime | None = None) -> QuerySet:
    """Stored candles of ``series`` with ``start <= open_time < end``, oldest first (model rows,
    Decimal values). Paginate it; for long ranges use ``candle_arrays``."""
    return Candle.objects.filter(**series.filter(), **_time_filter(start, end)).order_by("open_time")


def _time_filter(start: datetime | None, end: datetime | None) -> dict:
    bounds = {}
    if start is not None:
        bounds["open_time__gte"] = start
    if end is not None:
        bounds["open_time__lt"] = end
    return bounds


# Parameters are bound client-side, so an absent bound is a literal NULL the planner folds away.
_ARRAYS_SQL = """
SELECT open_time, is_closed, open, high, low, close, volume
FROM trading_candle
WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND market_type = %(market_type)s
  AND timeframe = %(timeframe)s
  AND (%(start)s::timestamptz IS NULL OR open_time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR open_time < %(end)s)
ORDER BY open_time
"""
_OPEN_TIMES_SQL = """
SELECT open_time
FROM trading_candle
WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND market_type = %(market_type)s
  AND timeframe = %(timeframe)s
  AND (%(start)s::timestamptz IS NULL OR open_time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR open_time < %(end)s)
ORDER BY open_time
"""


def candle_arrays(*, series: SeriesKey, start: datetime | None = None, end: datetime | None = None) -> CandleArrays:
    """The candles of ``series`` with ``start <= open_time < end`` as numpy arrays: from packed
    blocks where the span is sealed (``blocks``), else from the rows."""

    def read_rows(first: int | None, stop: int | None) -> CandleArrays:
        since, until = (None if value is None else from_epoch(value) for value in (first, stop))
        return arrays_from_query(_ARRAYS_SQL, {**series.filter(), "start": since, "end": until})

    return range_arrays(
        series,
        None if start is None else epoch_seconds(start),
        None if end is None else epoch_seconds(end),
        read_rows,
    )


def arrays_from_query(sql: str, params: dict) -> CandleArrays:
    """Run ``sql``, which selects (open time, is_closed, open, high, low, close, volume) NOT NULL
    columns typed as ``CANDLE_COLUMNS``, into arrays."""
    open_time, is_closed, *values = query_columns(sql, params, CANDLE_COLUMNS)
    return CandleArrays(open_time=open_time, is_closed=is_closed, **dict(zip(PRICE_FIELDS, values, strict=True)))


def series_open_times(*, series: SeriesKey, start: datetime | None = None, end: datetime | None = None) -> np.ndarray:
    """The open times (Unix seconds) of ``series`` in ``[start, end)``, ascending."""
    (open_times,) = query_columns(
        _OPEN_TIMES_SQL, {**series.filter(), "start": start, "end": end}, [Column.TIMESTAMPTZ]
    )
    return open_times


def series_gaps(*, series: SeriesKey, start: datetime | None = None, end: datetime | None = None) -> list[Gap]:
    """The missing periods between the first and last stored candle of ``series`` in the range."""
    row = CandleSeries.objects.filter(**series.filter()).only("calendar").first()
    weekdays_only = row is not None and row.calendar == CandleSeries.Calendar.WEEKDAYS
    times = series_open_times(series=series, start=start, end=end)
    return gaps_find(times, timeframe=series.timeframe, weekdays_only=weekdays_only)


def available_series(*, exchange: str | None = None, symbol: str | None = None) -> QuerySet:
    """Series that hold candles, with their first and last open time and count (kept current by
    ``candles_upsert``; ``services.series_refresh_extent`` recounts one)."""
    rows = CandleSeries.objects.filter(candle_count__gt=0)
    if exchange:
        rows = rows.filter(exchange=exchange)
    if symbol:
        rows = rows.filter(symbol=symbol)
    return rows.order_by("exchange", "symbol", "market_type", "timeframe")


def series_key_of(row: CandleSeries) -> SeriesKey:
    return SeriesKey(row.exchange, row.symbol, row.market_type, row.timeframe)


def funding_rates_between(*, exchange: str, symbol: str, since: datetime, until: datetime) -> QuerySet:
    """Stored funding events of ``symbol`` on ``exchange`` with ``since <= funding_time <= until``,
    oldest first (Decimal values)."""
    return FundingRate.objects.filter(
        exchange=exchange, symbol=symbol, funding_time__gte=since, funding_time__lte=until
    ).order_by("funding_time")


def funding_rate_last_time(*, exchange: str, symbol: str) -> datetime | None:
    """The newest stored funding time of ``symbol`` on ``exchange``: where collection resumes."""
    return (
        FundingRate.objects.filter(exchange=exchange, symbol=symbol)
        .order_by("-funding_time")
        .values_list("funding_time", flat=True)
        .first()
    )
