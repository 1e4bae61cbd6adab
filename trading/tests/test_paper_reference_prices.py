"""The product's paper exchange prices orders from the stored reference candles."""

from __future__ import annotations

import csv
import gzip
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest
from django.conf import settings

from trading.exchanges.base import OrderRequest, OrderSide, OrderStatus, OrderType
from trading.marketdata.importers import candles_import_csv
from trading.models import ExchangeAccount
from trading.services.exchange_accounts import exchange_account_adapter

HOURLY_BTC = Path(settings.SHARED_DATA_DIR) / "market" / "BTCUSDT_1h.csv.gz"
pytestmark = pytest.mark.skipif(not HOURLY_BTC.exists(), reason=f"the shared data set is absent: {HOURLY_BTC}")


def _last_close() -> Decimal:
    with gzip.open(HOURLY_BTC, "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return Decimal(rows[-1]["close"])


def test_a_paper_market_order_fills_at_the_newest_stored_close_plus_slippage(team):
    candles_import_csv(location=HOURLY_BTC, exchange="binance", symbol="BTC/USDT", timeframe="1h", market_type="spot")
    account = ExchangeAccount.objects.for_org(team.org).get(mode="paper")
    adapter = exchange_account_adapter(account)
    order = adapter.create_order(
        OrderRequest(
            symbol="BTC/USDT:USDT",
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal("0.010"),
            client_order_id="ref-1",
        )
    )
    # Buy at close * (1 + 2 bps), rounded up to the 0.1 tick (the documented default slippage).
    expected = (_last_close() * Decimal("1.0002") / Decimal("0.1")).to_integral_value(ROUND_CEILING) * Decimal("0.1")
    assert order.status == OrderStatus.FILLED
    assert order.average_price == expected
    assert order.fee == (Decimal("0.010") * expected * Decimal("0.0005"))
