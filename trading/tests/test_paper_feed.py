"""The beat job that plays newly closed reference candles to paper accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trading.exchanges.base import Candle, OrderRequest, OrderSide, OrderStatus, OrderType
from trading.exchanges.paper import PaperExchange
from trading.marketdata.candles import SeriesKey
from trading.marketdata.prices import paper_price_source
from trading.marketdata.services import candles_upsert
from trading.models import ExchangeAccount
from trading.services.exchange_accounts import exchange_account_adapter
from trading.services.paper_feed import paper_accounts_advance

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _bar(open_time: datetime, low: str, close: str) -> Candle:
    return Candle(open_time, Decimal("60000"), Decimal("60100"), Decimal(low), Decimal(close), Decimal("500"), True)


def test_a_resting_limit_fills_on_the_first_later_bar_that_trades_through_it_once(team):
    series = SeriesKey("binance", "BTC/USDT", "spot", "1h")
    candles_upsert(series=series, candles=[_bar(T0, "59950", "60000")], source="test", now=T0 + 10 * HOUR)
    account = ExchangeAccount.objects.for_org(team.org).get(mode="paper")
    paper = exchange_account_adapter(account)
    assert isinstance(paper, PaperExchange)
    placed_at = T0 + HOUR + timedelta(minutes=30)
    paper.clock = lambda: placed_at
    order = paper.create_order(
        OrderRequest(
            symbol="BTC/USDT:USDT",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal("0.010"),
            price=Decimal("59800.0"),
            client_order_id="rest-1",
        )
    )
    assert order.status == OrderStatus.OPEN  # 59,800 is below the last price (60,000): it rests
    # Bars after the order: 12:00 stays above the limit, 13:00 trades down through it.
    candles_upsert(
        series=series,
        candles=[
            _bar(T0 + HOUR, "59700", "60000"),
            _bar(T0 + 2 * HOUR, "59900", "60000"),
            _bar(T0 + 3 * HOUR, "59750", "59900"),
        ],
        source="test",
        now=T0 + 10 * HOUR,
    )
    # The 11:00 bar opened before the order was placed (11:30): it must not fill it.
    played = paper_accounts_advance(price_source=paper_price_source(), now=T0 + 5 * HOUR)
    assert played == 2  # the 12:00 and 13:00 bars
    filled = paper.fetch_order("BTC/USDT:USDT", client_order_id="rest-1")
    assert filled.status == OrderStatus.FILLED
    assert filled.average_price == Decimal("59800.0")  # a maker fill at its limit
    assert filled.fee == Decimal("0.010") * Decimal("59800.0") * Decimal("0.0002")
    # Running the job again changes nothing: each bar is matched against an order at most once.
    paper_accounts_advance(price_source=paper_price_source(), now=T0 + 5 * HOUR)
    assert paper.fetch_order("BTC/USDT:USDT", client_order_id="rest-1").filled_quantity == Decimal("0.010")
