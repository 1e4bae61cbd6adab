"""Higher timeframes from stored candles, computed exactly (NUMERIC) in one SQL query.

Buckets are aligned to UTC boundaries counted from the epoch (weeks from Monday), as every
stored period is. A resampled bar takes the first open, highest high, lowest low, last close
and summed volume of the source bars present in its bucket. It is closed only when every
source bar of the bucket exists and is closed; a bucket with no source bar produces no bar, so
gaps propagate instead of being filled. (Every source period is expected, as in 24x7 markets:
a weekly bar of a weekdays-only index never counts as complete.)
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from trading.exchanges.base import Candle
from trading.marketdata.candles import (
    InvalidSeries,
    SeriesKey,
    epoch_seconds,
    from_epoch,
    period_floor,
    timeframe_origin,
    timeframe_seconds,
)
from trading.marketdata.selectors import CandleArrays, arrays_from_query
from trading.marketdata.services import UpsertResult, candles_upsert

_RESAMPLED = """
SELECT date_bin(%(width)s::interval, open_time, %(origin)s::timestamptz) AS bucket,
       (array_agg(open ORDER BY open_time))[1] AS open,
       max(high) AS high,
       min(low) AS low,
       (array_agg(close ORDER BY open_time DESC))[1] AS close,
       sum(volume) AS volume,
       count(*) = %(per_bucket)s AND bool_and(is_closed) AS is_closed
FROM trading_candle
WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND market_type = %(market_type)s
  AND timeframe = %(timeframe)s
  AND (%(start)s::timestamptz IS NULL OR open_time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR open_time < %(end)s)
GROUP BY bucket
ORDER BY bucket
"""
_RESAMPLED_ARRAYS = f"""
SELECT bucket, is_closed, open, high, low, close, volume
FROM ({_RESAMPLED}) resampled
"""  # noqa: S608 - constants only


def _params(series: SeriesKey, timeframe: str, start: datetime | None, end: datetime | None) -> dict:
    source_step, target_step = series.step, timeframe_seconds(timeframe)
    if target_step <= source_step or target_step % source_step:
        raise InvalidSeries(f"{series.timeframe} candles cannot be resampled to {timeframe}: not a whole multiple.")
    if timeframe_origin(timeframe) % source_step:
        raise InvalidSeries(f"{series.timeframe} periods do not fit {timeframe} boundaries.")
    # Whole target buckets only: widen the range to the bucket boundaries around it.
    start = from_epoch(period_floor(epoch_seconds(start), timeframe)) if start else None
    if end is not None:
        floor = period_floor(epoch_seconds(end), timeframe)
        end = from_epoch(floor if floor == epoch_seconds(end) else floor + target_step)
    return {
        **series.filter(),
        "width": f"{target_step} seconds",
        "origin": from_epoch(timeframe_origin(timeframe)),
        "per_bucket": target_step // source_step,
        "start": start,
        "end": end,
    }


def candles_resampled(
    *, series: SeriesKey, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> list[Candle]:
    """``series`` resampled to ``timeframe`` over the buckets that overlap ``[start, end)``."""
    with connection.cursor() as cursor:
        cursor.execute(_RESAMPLED, _params(series, timeframe, start, end))
        return [Candle(*row) for row in cursor.fetchall()]


def candle_arrays_resampled(
    *, series: SeriesKey, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> CandleArrays:
    """``candles_resampled`` as numpy arrays (float64 copies), without a Python object per row."""
    return arrays_from_query(_RESAMPLED_ARRAYS, _params(series, timeframe, start, end))


def candles_resample_store(
    *, series: SeriesKey, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> UpsertResult:
    """Store ``series`` resampled to ``timeframe`` as the series of the same market at that
    timeframe (source ``resample:<timeframe>``). Bars stored as forming are completed by a later
    run; a closed bar that disagrees with a stored one is reported as a conflict, as any import."""
    target = SeriesKey(series.exchange, series.symbol, series.market_type, timeframe)
    bars = candles_resampled(series=series, timeframe=timeframe, start=start, end=end)
    return candles_upsert(series=target, candles=bars, source=f"resample:{series.timeframe}")
