"""trading.marketdata.resampling against bars worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from trading.exchanges.base import Candle
from trading.marketdata.candles import InvalidSeries, SeriesKey
from trading.marketdata.resampling import candle_arrays_resampled, candles_resample_store, candles_resampled
from trading.marketdata.services import candles_upsert
from trading.models import Candle as StoredCandle

HOURLY = SeriesKey("binance", "BTC/USDT", "spot", "1h")
MONDAY = datetime(2024, 1, 1, tzinfo=UTC)  # 2024-01-01 was a Monday

# hour: (open, high, low, close, volume, closed). Hour 6 and hours 8-11 are missing; hour 15 is forming.
HOURS = {
    0: ("10", "12", "9", "11", "1", True),
    1: ("11", "15", "10", "14", "2", True),
    2: ("14", "14.5", "8", "9", "3", True),
    3: ("9", "10", "7.5", "9.5", "4.25", True),
    4: ("9.5", "11", "9", "10", "1", True),
    5: ("10", "10.5", "9.5", "10.25", "1", True),
    7: ("10.25", "13", "10", "12", "2", True),
    12: ("20", "21", "19", "20.5", "1", True),
    13: ("20.5", "22", "20", "21", "1", True),
    14: ("21", "21.5", "18", "19", "1", True),
    15: ("19", "19.5", "18.5", "19.25", "1", False),
}

# The 4h bars by hand: first open, highest high, lowest low, last close, summed volume; closed only
# when all four hours exist and are closed; the 08:00 bucket has no hour, so no bar.
FOUR_HOUR = [
    (0, "10", "15", "7.5", "9.5", "10.25", True),
    (4, "9.5", "13", "9", "12", "4", False),  # hour 6 missing
    (12, "20", "22", "18", "19.25", "4", False),  # hour 15 still forming
]


def hourly_bar(hour: int, values=None) -> Candle:
    *amounts, closed = values or HOURS[hour]
    return Candle(MONDAY + timedelta(hours=hour), *(Decimal(value) for value in amounts), closed)


def expected(rows) -> list[Candle]:
    return [
        Candle(MONDAY + timedelta(hours=hour), *(Decimal(value) for value in amounts), closed)
        for hour, *amounts, closed in rows
    ]


@pytest.fixture
def hours(db):
    candles_upsert(series=HOURLY, candles=[hourly_bar(hour) for hour in HOURS], source="test")


def test_hourly_bars_resample_to_the_hand_computed_4h_bars(hours):
    assert candles_resampled(series=HOURLY, timeframe="4h") == expected(FOUR_HOUR)


def test_a_day_of_partial_hours_is_one_open_daily_bar(hours):
    [day] = candles_resampled(series=HOURLY, timeframe="1d")

    assert day == Candle(
        MONDAY, Decimal("10"), Decimal("22"), Decimal("7.5"), Decimal("19.25"), Decimal("18.25"), False
    )


def test_a_range_is_widened_to_whole_buckets(hours):
    bars = candles_resampled(
        series=HOURLY, timeframe="4h", start=MONDAY + timedelta(hours=2), end=MONDAY + timedelta(hours=5)
    )

    assert bars == expected(FOUR_HOUR[:2])


def test_weekly_bars_open_on_monday(db):
    daily = SeriesKey("binance", "BTC/USDT", "spot", "1d")
    # 2023-12-31 (Sunday) closes the previous week; then two full weeks from Monday 2024-01-01.
    days = [
        Candle(MONDAY + timedelta(days=offset), Decimal(1), Decimal(2 + offset), Decimal("0.5"), Decimal(1), Decimal(1))
        for offset in range(-1, 14)
    ]
    candles_upsert(series=daily, candles=days, source="test")

    weeks = candles_resampled(series=daily, timeframe="1w")

    assert [(week.open_time, week.high, week.volume, week.is_closed) for week in weeks] == [
        (MONDAY - timedelta(days=7), Decimal(1), Decimal(1), False),  # only its Sunday is stored
        (MONDAY, Decimal(8), Decimal(7), True),
        (MONDAY + timedelta(days=7), Decimal(15), Decimal(7), True),
    ]


def test_the_numpy_variant_gives_the_same_bars_as_floats(hours):
    arrays = candle_arrays_resampled(series=HOURLY, timeframe="4h")

    bars = expected(FOUR_HOUR)
    assert arrays.open_time.tolist() == [int(bar.open_time.timestamp()) for bar in bars]
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(arrays, name), [float(getattr(bar, name)) for bar in bars])
    assert arrays.is_closed.tolist() == [True, False, False]


def test_stored_resampled_bars_complete_when_the_missing_hour_arrives(hours):
    four_hourly = SeriesKey("binance", "BTC/USDT", "spot", "4h")
    first = candles_resample_store(series=HOURLY, timeframe="4h")
    candles_upsert(
        series=HOURLY, candles=[hourly_bar(6, ("10.25", "10.5", "8.5", "10.25", "0.5", True))], source="test"
    )

    second = candles_resample_store(series=HOURLY, timeframe="4h")

    assert (first.inserted, second.inserted, second.updated_forming, second.duplicate) == (3, 0, 1, 2)
    bar = StoredCandle.objects.get(**four_hourly.filter(), open_time=MONDAY + timedelta(hours=4))
    assert (bar.low, bar.volume, bar.is_closed, bar.source) == (Decimal("8.5"), Decimal("4.5"), True, "resample:1h")


@pytest.mark.parametrize("timeframe", ["1h", "30m", "1m"])
def test_only_whole_multiples_of_the_source_timeframe_are_accepted(db, timeframe):
    with pytest.raises(InvalidSeries, match="cannot be resampled"):
        candles_resampled(series=HOURLY, timeframe=timeframe)
