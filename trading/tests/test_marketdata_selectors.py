"""trading.marketdata.selectors: numpy range reads equal the stored values; model rows, the
series list and the gap report of the store."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from trading.exchanges.base import Candle
from trading.marketdata.candles import SeriesKey
from trading.marketdata.gaps import Gap
from trading.marketdata.selectors import (
    available_series,
    candle_arrays,
    candles_range,
    series_gaps,
    series_open_times,
)
from trading.marketdata.services import candles_upsert
from trading.models import Candle as StoredCandle

SERIES = SeriesKey("binance", "ETH/USDT:USDT", "perpetual", "15m")
T0 = datetime(2023, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)


def random_candles(count: int, *, skip: set[int] = frozenset(), seed: int = 7) -> list[Candle]:
    """Irregular prices with up to 12 decimal places, so float conversion is really exercised."""
    rng = random.Random(seed)
    candles = []
    for index in range(count):
        if index in skip:
            continue
        low = Decimal(rng.randint(1, 10**9)) / 10**6
        high = low + Decimal(rng.randint(0, 10**9)) / 10**9
        open_, close = (low + (high - low) * Decimal(rng.random()).quantize(Decimal("1e-3")) for _ in range(2))
        volume = Decimal(rng.randint(0, 10**15)) / 10**12
        candles.append(
            Candle(
                T0 + index * STEP,
                open_.quantize(Decimal("1e-12")),
                high,
                low,
                close.quantize(Decimal("1e-12")),
                volume,
                index % 97 != 0,
            )
        )
    return candles


def test_the_numpy_read_equals_the_stored_values(db):
    candles_upsert(series=SERIES, candles=random_candles(3_000), source="test")
    start, end = T0 + 100 * STEP, T0 + 2_100 * STEP

    arrays = candle_arrays(series=SERIES, start=start, end=end)

    rows = list(
        StoredCandle.objects.filter(**SERIES.filter(), open_time__gte=start, open_time__lt=end)
        .order_by("open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume", "is_closed")
    )
    assert len(arrays) == len(rows) == 2_000
    assert arrays.open_time.dtype == np.int64 and arrays.close.dtype == np.float64
    assert arrays.open_time.tolist() == [int(row[0].timestamp()) for row in rows]
    assert arrays.times[0] == np.datetime64("2023-03-02T01:00:00")  # 100 quarter-hours after T0
    for position, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        # Python's float(Decimal) and PostgreSQL's numeric::float8 both round to the nearest double.
        assert getattr(arrays, name).tolist() == [float(row[position]) for row in rows], name
    assert arrays.is_closed.tolist() == [row[6] for row in rows]


def test_an_empty_or_unknown_range_gives_empty_arrays(db):
    arrays = candle_arrays(series=SeriesKey("nowhere", "X/Y", "spot", "1h"))

    assert len(arrays) == 0 and arrays.open.dtype == np.float64


def test_candles_range_gives_ordered_model_rows_within_bounds(db):
    candles_upsert(series=SERIES, candles=random_candles(50)[::-1], source="test")

    rows = candles_range(series=SERIES, start=T0 + 10 * STEP, end=T0 + 20 * STEP)

    assert [row.open_time for row in rows] == [T0 + index * STEP for index in range(10, 20)]
    assert isinstance(rows[0].close, Decimal)


def test_available_series_lists_each_series_with_its_extent(db):
    candles_upsert(series=SERIES, candles=random_candles(40), source="test")
    other = SeriesKey("binance", "BTC/USDT", "spot", "1d")
    candles_upsert(series=other, candles=[Candle(T0, *(Decimal(1),) * 5)], source="test")

    listed = [
        (s.exchange, s.symbol, s.timeframe, s.first_open_time, s.last_open_time, s.candle_count)
        for s in available_series()
    ]

    assert listed == [
        ("binance", "BTC/USDT", "1d", T0, T0, 1),
        ("binance", "ETH/USDT:USDT", "15m", T0, T0 + 39 * STEP, 40),
    ]
    assert [s.symbol for s in available_series(symbol="BTC/USDT")] == ["BTC/USDT"]


def test_series_gaps_reports_missing_periods_of_the_store(db):
    candles_upsert(series=SERIES, candles=random_candles(200, skip={5, 6, 7, 150}), source="test")

    assert series_gaps(series=SERIES) == [
        Gap(T0 + 5 * STEP, T0 + 7 * STEP, 3),
        Gap(T0 + 150 * STEP, T0 + 150 * STEP, 1),
    ]
    assert series_gaps(series=SERIES, start=T0 + 100 * STEP) == [Gap(T0 + 150 * STEP, T0 + 150 * STEP, 1)]
    assert len(series_open_times(series=SERIES)) == 196


@pytest.mark.parametrize("count", [0, 1])
def test_series_gaps_of_a_short_series_is_empty(db, count):
    candles_upsert(series=SERIES, candles=random_candles(count), source="test")

    assert series_gaps(series=SERIES) == []
