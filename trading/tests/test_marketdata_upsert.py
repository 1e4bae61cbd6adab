"""trading.marketdata.services.candles_upsert: inserts, duplicates, conflicts, forming candles,
and refusals that store nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading.exchanges.base import Candle
from trading.marketdata.candles import InvalidCandle, SeriesKey
from trading.marketdata.services import candles_upsert
from trading.models import Candle as StoredCandle
from trading.models import CandleSeries

SERIES = SeriesKey("binance", "BTC/USDT", "spot", "1h")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def bar(hour: int, close: str = "100.5", *, closed: bool = True, high: str = "101", low: str = "99") -> Candle:
    return Candle(
        T0 + hour * HOUR, Decimal("100"), Decimal(high), Decimal(low), Decimal(close), Decimal("7.25"), closed
    )


def stored(hour: int) -> StoredCandle:
    return StoredCandle.objects.get(**SERIES.filter(), open_time=T0 + hour * HOUR)


@pytest.fixture
def db_series(db):
    return SERIES


def test_it_inserts_new_candles_with_their_source(db_series):
    result = candles_upsert(series=SERIES, candles=[bar(0), bar(1), bar(2)], source="binance")

    assert (result.received, result.inserted, result.duplicate, result.conflicting) == (3, 3, 0, 0)
    row = stored(1)
    assert (row.open, row.high, row.low, row.close, row.volume) == (
        Decimal("100"),
        Decimal("101"),
        Decimal("99"),
        Decimal("100.5"),
        Decimal("7.25"),
    )
    assert row.is_closed and row.source == "binance"
    assert row.open_time == T0 + HOUR


def test_it_keeps_the_series_extent_and_count(db_series):
    candles_upsert(series=SERIES, candles=[bar(5), bar(3)], source="x")
    candles_upsert(series=SERIES, candles=[bar(3), bar(9)], source="x")

    row = CandleSeries.objects.get(**SERIES.filter())
    assert (row.first_open_time, row.last_open_time, row.candle_count) == (T0 + 3 * HOUR, T0 + 9 * HOUR, 3)


def test_identical_candles_are_duplicates_and_nothing_changes(db_series):
    candles_upsert(series=SERIES, candles=[bar(0), bar(1)], source="first")

    result = candles_upsert(series=SERIES, candles=[bar(1), bar(0), bar(2)], source="second")

    assert (result.inserted, result.duplicate, result.conflicting) == (1, 2, 0)
    assert stored(0).source == "first"


def test_a_disagreeing_closed_candle_is_a_conflict_and_the_stored_value_stays(db_series):
    candles_upsert(series=SERIES, candles=[bar(0), bar(1, close="100.5")], source="first")

    result = candles_upsert(series=SERIES, candles=[bar(0), bar(1, close="100.75")], source="second")

    assert (result.inserted, result.duplicate, result.conflicting) == (0, 1, 1)
    [conflict] = result.conflicts
    assert conflict.open_time == T0 + HOUR
    assert conflict.stored["close"] == Decimal("100.5")
    assert conflict.incoming["close"] == Decimal("100.75")
    assert stored(1).close == Decimal("100.5") and stored(1).source == "first"


def test_a_forming_candle_is_replaced_by_a_newer_version_and_then_closed(db_series):
    candles_upsert(series=SERIES, candles=[bar(0, close="100.1", closed=False)], source="first")

    newer = candles_upsert(series=SERIES, candles=[bar(0, close="100.2", closed=False)], source="second")
    final = candles_upsert(series=SERIES, candles=[bar(0, close="100.3")], source="third")

    assert (newer.updated_forming, newer.duplicate, final.updated_forming) == (1, 0, 1)
    row = stored(0)
    assert (row.close, row.is_closed, row.source) == (Decimal("100.3"), True, "third")


def test_a_closed_candle_is_never_replaced_by_a_forming_one(db_series):
    candles_upsert(series=SERIES, candles=[bar(0, close="100.3")], source="first")

    result = candles_upsert(series=SERIES, candles=[bar(0, close="100.1", closed=False)], source="second")

    assert (result.ignored_forming, result.conflicting, result.updated_forming) == (1, 0, 0)
    row = stored(0)
    assert (row.close, row.is_closed) == (Decimal("100.3"), True)


def test_a_candle_whose_period_has_not_ended_is_stored_forming_whatever_it_claims(db_series):
    now = T0 + 2 * HOUR + timedelta(minutes=30)  # hour 2 is still running

    candles_upsert(series=SERIES, candles=[bar(1), bar(2)], source="x", now=now)

    assert stored(1).is_closed is True
    assert stored(2).is_closed is False


@pytest.mark.parametrize(
    ("candle", "reason"),
    [
        (Candle(T0 + timedelta(minutes=30), *(Decimal(1),) * 5), "not aligned"),
        (Candle(T0.replace(tzinfo=None), *(Decimal(1),) * 5), "time zone"),
        (bar(1, close="100.1234567890123"), "more than 12 decimal places"),
        (bar(1, high="98", low="99", close="98.5"), "trading_candle_ohlc_consistent"),
        (bar(1, close="NaN"), "trading_candle_ohlc_consistent"),
        (Candle(T0, Decimal(1), Decimal(1), Decimal(1), Decimal(1), Decimal("-1")), "volume_not_negative"),
        (Candle(T0, *(Decimal("1e19"),) * 4, Decimal(1)), "numeric field overflow"),
    ],
)
def test_an_invalid_candle_stores_nothing_of_its_batch(db_series, candle, reason):
    with pytest.raises(InvalidCandle, match=reason):
        candles_upsert(series=SERIES, candles=[bar(5), candle, bar(6)], source="x")

    assert not StoredCandle.objects.filter(**SERIES.filter()).exists()


def test_trailing_zeros_beyond_twelve_places_are_exact_and_accepted(db_series):
    candles_upsert(series=SERIES, candles=[bar(0, close="100.50000000000000000")], source="x")

    assert stored(0).close == Decimal("100.5")


def test_two_candles_for_one_open_time_in_a_batch_are_refused(db_series):
    with pytest.raises(InvalidCandle, match="Two candles"):
        candles_upsert(series=SERIES, candles=[bar(0), bar(0, close="100.2")], source="x")


def test_batches_larger_than_one_copy_round_are_counted_once(db_series, monkeypatch):
    monkeypatch.setattr("trading.marketdata.services.BATCH_ROWS", 7)
    candles_upsert(series=SERIES, candles=[bar(hour) for hour in range(0, 30, 2)], source="x")

    result = candles_upsert(series=SERIES, candles=[bar(hour) for hour in range(30)], source="x")

    assert (result.received, result.inserted, result.duplicate) == (30, 15, 15)
    assert StoredCandle.objects.filter(**SERIES.filter()).count() == 30
    assert CandleSeries.objects.get(**SERIES.filter()).candle_count == 30


def test_an_error_while_producing_candles_stores_nothing(db_series):
    def candles():
        yield bar(0)
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        candles_upsert(series=SERIES, candles=candles(), source="x")

    assert not StoredCandle.objects.filter(**SERIES.filter()).exists()


def test_series_are_kept_apart(db_series):
    other = SeriesKey("binance", "ETH/USDT", "spot", "1h")
    candles_upsert(series=SERIES, candles=[bar(0, close="100.5")], source="x")

    result = candles_upsert(series=other, candles=[bar(0, close="100.75")], source="x")

    assert (result.inserted, result.conflicting) == (1, 0)
