"""Reads from the candle store.

``candles_range`` gives model rows (Decimal, for the API and small ranges); ``candle_arrays``
gives numpy arrays for analytics and backtests without a Python object per row: PostgreSQL
casts to float8 and streams ``COPY ... (FORMAT BINARY)``, whose fixed-width rows numpy reads
in place. The arrays are float64 *copies* for computation; money stays Decimal in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import connection
from django.db.models import QuerySet

from trading.marketdata.candles import SeriesKey
from trading.marketdata.gaps import Gap, gaps_find
from trading.models import Candle, CandleSeries

POSTGRES_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds: binary timestamps count from it, in µs
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_FLOATS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class CandleArrays:
    """Column arrays of one range, ordered by open time."""

    open_time: np.ndarray  # int64, Unix seconds (UTC)
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    is_closed: np.ndarray  # bool

    def __len__(self) -> int:
        return int(self.open_time.size)

    @property
    def times(self) -> np.ndarray:
        """``open_time`` as ``datetime64[s]`` (UTC)."""
        return self.open_time.astype("datetime64[s]")


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
SELECT open_time, open::float8, high::float8, low::float8, close::float8, volume::float8, is_closed
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
    """The candles of ``series`` with ``start <= open_time < end`` as numpy arrays."""
    return arrays_from_query(_ARRAYS_SQL, {**series.filter(), "start": start, "end": end})


def arrays_from_query(sql: str, params: dict) -> CandleArrays:
    """Run ``sql``, which selects (timestamptz, five float8, bool) NOT NULL columns, into arrays."""
    rows = _copy_binary(sql, params, [("open_time", ">i8"), *((name, ">f8") for name in _FLOATS), ("is_closed", "?")])
    return CandleArrays(
        open_time=rows["open_time"] // 1_000_000 + POSTGRES_EPOCH,
        **{name: rows[name].astype(np.float64) for name in _FLOATS},
        is_closed=rows["is_closed"].copy(),
    )


def _copy_binary(sql: str, params: dict, columns: list[tuple[str, str]]) -> np.ndarray:
    """The rows of ``sql`` as a numpy record array, parsed from PostgreSQL's binary COPY format:
    a header, then per row an int16 field count and, per field, an int32 length and the value
    (big-endian), then an int16 -1. Every column must be NOT NULL and fixed-width."""
    fields = [("count", ">i2")]
    for name, kind in columns:
        fields += [(f"{name}_length", ">i4"), (name, kind)]
    row_type = np.dtype(fields)
    with connection.cursor() as django_cursor:
        with django_cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
            data = bytearray()
            for block in copy:
                data += block
    if not data.startswith(_BINARY_SIGNATURE):
        raise ValueError("Not a PostgreSQL binary COPY stream.")
    header_extension = int.from_bytes(data[15:19], "big")
    body = memoryview(data)[19 + header_extension : len(data) - 2]  # without the trailing int16 -1
    if len(body) % row_type.itemsize:
        raise ValueError(f"Binary COPY rows are not {row_type.itemsize} bytes wide: a NULL or a variable-width column?")
    rows = np.frombuffer(body, dtype=row_type)  # a view: the arrays the caller keeps are converted copies
    if rows.size and (np.any(rows["count"] != len(columns))):
        raise ValueError("Unexpected field count in binary COPY rows.")
    return rows


def series_open_times(*, series: SeriesKey, start: datetime | None = None, end: datetime | None = None) -> np.ndarray:
    """The open times (Unix seconds) of ``series`` in ``[start, end)``, ascending."""
    rows = _copy_binary(_OPEN_TIMES_SQL, {**series.filter(), "start": start, "end": end}, [("open_time", ">i8")])
    return rows["open_time"] // 1_000_000 + POSTGRES_EPOCH


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
