"""trading.marketdata.prices.StoredPrices: the candle store as the paper exchange's PriceSource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trading.exchanges.base import Candle
from trading.exchanges.paper.prices import PriceSource
from trading.marketdata.candles import SeriesKey
from trading.marketdata.prices import StoredPrices
from trading.marketdata.services import candles_upsert

SYMBOL = "BTC/USDT:USDT"
T0 = datetime(2025, 2, 3, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def minute(index: int, *, closed: bool = True) -> Candle:
    price = Decimal(60_000 + index)
    return Candle(T0 + index * MINUTE, price, price + 5, price - 5, price + 1, Decimal("0.5"), closed)


def store(minutes: int, *, forming_last: bool = False) -> None:
    bars = [minute(i, closed=not (forming_last and i == minutes - 1)) for i in range(minutes)]
    candles_upsert(series=SeriesKey("aster", SYMBOL, "perpetual", "1m"), candles=bars, source="test")


def test_it_is_a_price_source_whose_now_is_the_newest_candle(db):
    store(10, forming_last=True)
    prices = StoredPrices(exchange="aster")

    assert isinstance(prices, PriceSource)
    latest = prices.latest_candle(SYMBOL)
    assert latest == minute(9, closed=False)  # live: the forming bar's close is the last price
    assert SYMBOL in prices.markets()
    assert prices.latest_candle("ETH/USDT:USDT") is None


def test_a_backtest_clock_sees_only_bars_closed_by_then(db):
    store(10)
    prices = StoredPrices(exchange="aster", as_of=T0 + 5 * MINUTE + timedelta(seconds=30))

    assert prices.latest_candle(SYMBOL) == minute(4)  # minute 5 is still running at 00:05:30
    assert [c.open_time for c in prices.candles(SYMBOL, "1m", since=T0 + 2 * MINUTE)] == [
        T0 + i * MINUTE for i in (2, 3, 4)
    ]


def test_candles_are_ascending_from_since_and_limited(db):
    store(10)
    prices = StoredPrices(exchange="aster")

    assert prices.candles(SYMBOL, "1m", since=T0 + 7 * MINUTE) == [minute(7), minute(8), minute(9)]
    assert prices.candles(SYMBOL, "1m", limit=2) == [minute(0), minute(1)]
