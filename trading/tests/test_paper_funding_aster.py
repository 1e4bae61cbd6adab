"""End to end: the paper feed's beat job finds funding due on a paper position with no stored
rate, has the real CCXT collect Aster's funding history from the local Aster server, and settles
each event once on the next run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading.exchanges.base import Candle, OrderRequest, OrderSide, OrderType
from trading.exchanges.paper import PaperExchange, paper_account_for_organization
from trading.exchanges.registry import adapter_for
from trading.marketdata.candles import SeriesKey
from trading.marketdata.prices import paper_price_source
from trading.marketdata.selectors import funding_rates_between
from trading.marketdata.services import candles_upsert
from trading.models.paper import PaperFunding
from trading.tasks import paper_accounts_advance_task

BTC = "BTC/USDT:USDT"
EIGHT_HOURS = timedelta(hours=8)
D = Decimal
SERVERS = {}


def local_aster(exchange_id: str):
    """MARKETDATA_ADAPTER_FACTORY: public data from the local Aster server through real CCXT."""
    assert exchange_id == "aster"
    return adapter_for("aster", None, urls=SERVERS["aster"].ccxt_urls(), rate_limit_ms=1)


@pytest.fixture
def aster_reference(settings, aster_server):
    settings.PAPER_REFERENCE_EXCHANGE = "aster"
    settings.MARKETDATA_ADAPTER_FACTORY = f"{__name__}.local_aster"
    SERVERS["aster"] = aster_server
    yield aster_server
    SERVERS.clear()


def test_aster_funding_is_collected_and_settled_once_on_a_paper_long(
    team, aster_reference, django_capture_on_commit_callbacks
):
    now = datetime.now(UTC)
    last = datetime.fromtimestamp(now.timestamp() // 28_800 * 28_800, UTC)  # the latest 8-hour boundary
    times = [last - 2 * EIGHT_HOURS, last - EIGHT_HOURS, last]
    aster_reference.state.mark_prices["BTCUSDT"] = D("61000")
    aster_reference.state.funding_history["BTCUSDT"] = [
        (int(times[0].timestamp() * 1000), D("0.0001")),
        (int(times[1].timestamp() * 1000), D("-0.0002")),
        (int(times[2].timestamp() * 1000), D("0.00015")),
    ]
    # The paper long: 0.010 BTC bought at the reference close of 60,000, before the three events.
    opened_at = times[0] - timedelta(hours=4)
    bar = opened_at.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    reference = SeriesKey("aster", "BTC/USDT", "spot", "1h")
    candles_upsert(series=reference, candles=[Candle(bar, *(D("60000"),) * 4, D("50"))], source="test")
    account = paper_account_for_organization(team.org)
    account.slippage_bps = D(0)
    account.save(update_fields=["slippage_bps"])
    paper = PaperExchange(account, price_source=paper_price_source(), clock=lambda: opened_at)
    paper.create_order(OrderRequest(BTC, OrderSide.BUY, OrderType.MARKET, D("0.010"), client_order_id="long-1"))
    # fee 0.010 * 60000 * 0.0005 = 0.3
    assert account_cash(team) == D("9999.7")

    # First run: the events are due, no rate is stored: nothing is applied, collection is requested.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = paper_accounts_advance_task.delay().get()
    assert first["funding_applied"] == 0
    assert [entry["funding_time"] for entry in first["funding_missing_rate"]] == [t.isoformat() for t in times]
    assert len(callbacks) == 1  # ingest_funding_rates("aster", BTC), run by the eager worker
    stored = funding_rates_between(exchange="aster", symbol=BTC, since=times[0], until=times[2])
    assert [(row.funding_time, row.rate, row.mark_price) for row in stored] == [
        (times[0], D("0.0001"), D("61000")),
        (times[1], D("-0.0002"), D("61000")),
        (times[2], D("0.00015"), D("61000")),
    ]

    # Second run: each event settled at Aster's mark price, 0.010 * 61000 = 610 of notional:
    # -610 * 0.0001 = -0.061; -610 * -0.0002 = +0.122; -610 * 0.00015 = -0.0915
    second = paper_accounts_advance_task.delay().get()
    assert (second["funding_applied"], second["funding_missing_rate"]) == (3, [])
    payments = PaperFunding.objects.for_org(team.org).order_by("funding_time")
    assert [(p.funding_time, p.amount) for p in payments] == [
        (times[0], D("-0.061")),
        (times[1], D("0.122")),
        (times[2], D("-0.0915")),
    ]
    assert account_cash(team) == D("9999.6695")  # 9999.7 - 0.061 + 0.122 - 0.0915

    # Third run (a restart, a duplicate beat): nothing more.
    assert paper_accounts_advance_task.delay().get()["funding_applied"] == 0
    assert account_cash(team) == D("9999.6695")


def account_cash(team) -> Decimal:
    return paper_account_for_organization(team.org).cash_balance
