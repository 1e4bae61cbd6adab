"""The CCXT adapter with the real CCXT 4.5.90 against the local Aster server (``aster_server``).

Expected values are written out by hand from the venue's fixture data (symbol filters, brackets,
prices, fees of 0.035 % taker) — never read back from the code under test.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from decimal import Decimal

import ccxt
import ccxt.pro
import pytest
import requests

from trading.exchanges.base import (
    AuthenticationError,
    Balance,
    Candle,
    ExchangeAdapter,
    ExchangeUnavailable,
    FundingRate,
    InsufficientFunds,
    InvalidOrder,
    LeverageTier,
    MarketType,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    RateLimited,
    TimeInForce,
    UnknownExchange,
    UnknownSymbol,
)
from trading.exchanges.ccxt_adapter import CcxtAdapter
from trading.exchanges.credentials import ExchangeCredentials
from trading.exchanges.registry import ADAPTER_FACTORIES, adapter_for, supported_exchange_ids
from trading.tests.aster_server import ORDER_PATH, sign_params
from trading.tests.aster_server.state import brackets
from trading.tests.conftest import Wallet

BTC = "BTC/USDT:USDT"
HOUR_MS = 3_600_000
BALANCE_PATH = "/fapi/v3/balance"


def make_adapter(server, credentials, **overrides) -> CcxtAdapter:
    options = {
        "urls": server.ccxt_urls(),
        "timeout_ms": 2_000,
        "rate_limit_ms": 1,
        "backoff_s": 0.01,
        "max_attempts": 3,
    }
    options.update(overrides)
    return CcxtAdapter("aster", credentials, **options)


@pytest.fixture(params=["agent", "main"])
def key_kind(request) -> str:
    return request.param


@pytest.fixture
def adapter(aster_server, aster_wallets, key_kind):
    credentials = aster_wallets.agent_credentials() if key_kind == "agent" else aster_wallets.main_credentials()
    adapter = make_adapter(aster_server, credentials)
    yield adapter
    adapter.close()


@pytest.fixture
def agent_adapter(aster_server, aster_wallets):
    adapter = make_adapter(aster_server, aster_wallets.agent_credentials())
    yield adapter
    adapter.close()


def buy(quantity: str, client_order_id: str, price: str | None = None, **kwargs) -> OrderRequest:
    return OrderRequest(
        BTC,
        OrderSide.BUY,
        OrderType.LIMIT if price else OrderType.MARKET,
        Decimal(quantity),
        client_order_id,
        price=Decimal(price) if price else None,
        **kwargs,
    )


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC)


def current_open_ms(interval_s: int, margin_s: float = 3.0) -> int:
    """The open time of the forming candle, waiting out the last seconds of an interval so the
    'forming' candle cannot close while the test runs."""
    remaining = interval_s - time.time() % interval_s
    if remaining < margin_s:
        time.sleep(remaining + 0.05)
    return int(time.time() // interval_s) * interval_s * 1000


def assert_no_builder_fee(server) -> None:
    assert server.requests, "the server saw no request at all"
    for request in server.requests:
        assert "builder" not in request.params and "feeRate" not in request.params, request
        assert "builder" not in request.path.lower(), request


# --- markets and market data ------------------------------------------------------------------


def test_adapter_speaks_the_protocol_with_rate_limit_on_and_no_builder_fee(agent_adapter):
    assert isinstance(agent_adapter, ExchangeAdapter)
    exchange = agent_adapter.ccxt_exchange
    assert exchange.enableRateLimit is True
    assert exchange.options["builderFee"] is False


def test_load_markets(adapter, aster_server):
    markets = adapter.load_markets()
    assert set(markets) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "ASTER/USDT:USDT", "OLD/USDT:USDT", "ASTER/USDT"}
    btc = markets[BTC]
    assert (btc.exchange_symbol, btc.market_type, btc.base, btc.quote, btc.settle) == (
        "BTCUSDT",
        MarketType.PERPETUAL,
        "BTC",
        "USDT",
        "USDT",
    )
    assert (btc.tick_size, btc.lot_size, btc.min_quantity, btc.min_notional, btc.max_leverage, btc.active) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("5"),
        100,
        True,
    )
    for value in (btc.tick_size, btc.lot_size, btc.min_quantity, btc.min_notional):
        assert type(value) is Decimal
    aster_perp = markets["ASTER/USDT:USDT"]
    assert (aster_perp.tick_size, aster_perp.lot_size, aster_perp.max_leverage) == (Decimal("0.0001"), 1, 50)
    assert markets["ETH/USDT:USDT"].max_leverage == 75
    spot = markets["ASTER/USDT"]  # same venue id as the perpetual, told apart by market type
    assert (spot.exchange_symbol, spot.market_type, spot.tick_size, spot.lot_size, spot.min_notional) == (
        "ASTERUSDT",
        MarketType.SPOT,
        Decimal("0.00001"),
        Decimal("0.01"),
        Decimal("1"),
    )
    assert spot.max_leverage is None
    assert markets["OLD/USDT:USDT"].active is False
    # CCXT's load_markets asks for both exchangeInfo documents (the spot one twice: currencies + markets)
    assert len(aster_server.requests_to("/fapi/v3/exchangeInfo")) == 1
    assert len(aster_server.requests_to("/api/v3/exchangeInfo")) == 2


def test_markets_are_cached_per_process(aster_server, aster_wallets):
    first = make_adapter(aster_server, aster_wallets.agent_credentials())
    first.load_markets()
    seen = len(aster_server.requests)
    second = make_adapter(aster_server, aster_wallets.agent_credentials())
    assert second.market(BTC).tick_size == Decimal("0.1")
    assert second.load_markets()[BTC].max_leverage == 100
    assert len(aster_server.requests) == seen  # no request at all: markets and brackets were cached
    second.load_markets(reload=True)
    assert len(aster_server.requests_to("/fapi/v3/exchangeInfo")) == 2


def test_leverage_brackets_are_cached_per_account(aster_server, aster_wallets):
    """Brackets are signed, per-account answers: another account's may differ (here the venue
    gave a second account at most 20x on BTC), so one account's never serve another."""
    other = Wallet.from_seed("aster other main")
    aster_server.state.add_account(other.address, balances={"USDT": Decimal("100")})
    aster_server.state.set_account_brackets(other.address, "BTCUSDT", brackets(("0", "50000", 20, "0.025")))
    first = make_adapter(aster_server, aster_wallets.main_credentials())
    assert first.load_markets()[BTC].max_leverage == 100
    second = make_adapter(aster_server, ExchangeCredentials(kind="main_key", private_key=other.private_key))
    assert second.load_markets()[BTC].max_leverage == 20
    assert second.market(BTC).max_leverage == 20
    assert len(aster_server.requests_to("/fapi/v3/exchangeInfo")) == 1  # public markets still shared
    seen = len(aster_server.requests_to("/fapi/v3/leverageBracket"))
    again = make_adapter(aster_server, aster_wallets.agent_credentials())  # trades the first account
    assert again.load_markets()[BTC].max_leverage == 100
    assert len(aster_server.requests_to("/fapi/v3/leverageBracket")) == seen  # that account's, cached
    assert make_adapter(aster_server, None).load_markets()[BTC].max_leverage is None  # public: none


def test_unknown_symbol_is_refused_without_a_request(agent_adapter, aster_server):
    agent_adapter.load_markets()
    seen = len(aster_server.requests)
    with pytest.raises(UnknownSymbol, match="DOGE/USDT:USDT"):
        agent_adapter.fetch_ohlcv("DOGE/USDT:USDT", "1h")
    with pytest.raises(UnknownSymbol):
        agent_adapter.create_order(OrderRequest("DOGE/USDT:USDT", OrderSide.BUY, OrderType.MARKET, Decimal(1), "x1"))
    assert len(aster_server.requests) == seen


def test_candles_with_the_forming_candle_not_closed(agent_adapter, aster_server):
    hour = current_open_ms(3600)
    aster_server.state.set_klines(
        "BTCUSDT",
        "1h",
        [
            (hour - 3 * HOUR_MS, "60000.0", "60250.5", "59900.1", "60100.2", "12.345"),
            (hour - 2 * HOUR_MS, "60100.2", "60400.0", "60050.0", "60333.3", "8.001"),
            (hour - HOUR_MS, "60333.3", "60333.3", "59800.0", "59850.7", "20.5"),
            (hour, "59850.7", "59990.0", "59840.0", "59900.0", "1.002"),
        ],
    )
    candles = agent_adapter.fetch_ohlcv(BTC, "1h", limit=4)
    assert candles == [
        Candle(
            ms_to_dt(hour - 3 * HOUR_MS),
            Decimal("60000.0"),
            Decimal("60250.5"),
            Decimal("59900.1"),
            Decimal("60100.2"),
            Decimal("12.345"),
            is_closed=True,
        ),
        Candle(
            ms_to_dt(hour - 2 * HOUR_MS),
            Decimal("60100.2"),
            Decimal("60400.0"),
            Decimal("60050.0"),
            Decimal("60333.3"),
            Decimal("8.001"),
            is_closed=True,
        ),
        Candle(
            ms_to_dt(hour - HOUR_MS),
            Decimal("60333.3"),
            Decimal("60333.3"),
            Decimal("59800.0"),
            Decimal("59850.7"),
            Decimal("20.5"),
            is_closed=True,
        ),
        Candle(
            ms_to_dt(hour),
            Decimal("59850.7"),
            Decimal("59990.0"),
            Decimal("59840.0"),
            Decimal("59900.0"),
            Decimal("1.002"),
            is_closed=False,
        ),
    ]
    assert all(type(c.close) is Decimal and c.open_time.tzinfo is not None for c in candles)

    paged = agent_adapter.fetch_ohlcv(BTC, "1h", since=ms_to_dt(hour - 2 * HOUR_MS), limit=2)
    assert [c.open_time for c in paged] == [ms_to_dt(hour - 2 * HOUR_MS), ms_to_dt(hour - HOUR_MS)]
    last = aster_server.requests_to("/fapi/v3/klines")[-1].params
    assert (last["symbol"], last["interval"], last["startTime"], last["limit"]) == (
        "BTCUSDT",
        "1h",
        str(hour - 2 * HOUR_MS),
        "2",
    )


def test_funding_rate_and_history(agent_adapter, aster_server):
    aster_server.state.funding_rates["BTCUSDT"] = Decimal("0.00012345")
    before = (int(time.time()) // 28800 + 1) * 28800
    current = agent_adapter.fetch_funding_rate(BTC)
    after = (int(time.time()) // 28800 + 1) * 28800
    assert current.rate == Decimal("0.00012345") and type(current.rate) is Decimal
    assert current.funding_time in {datetime.fromtimestamp(before, UTC), datetime.fromtimestamp(after, UTC)}
    assert (current.mark_price, current.index_price) == (Decimal("60000"), Decimal("60000"))

    t0 = 1_761_955_200_000  # 2025-11-01T00:00:00Z
    aster_server.state.funding_history["BTCUSDT"] = [
        (t0, Decimal("0.0001")),
        (t0 + 28_800_000, Decimal("-0.00005")),
        (t0 + 57_600_000, Decimal("0.00031234")),
    ]
    mark = Decimal("60000")  # the server's BTCUSDT mark price, sent with every event
    assert agent_adapter.fetch_funding_rate_history(BTC) == [
        FundingRate(BTC, Decimal("0.0001"), datetime(2025, 11, 1, 0, tzinfo=UTC), mark),
        FundingRate(BTC, Decimal("-0.00005"), datetime(2025, 11, 1, 8, tzinfo=UTC), mark),
        FundingRate(BTC, Decimal("0.00031234"), datetime(2025, 11, 1, 16, tzinfo=UTC), mark),
    ]
    later = agent_adapter.fetch_funding_rate_history(BTC, since=datetime(2025, 11, 1, 8, tzinfo=UTC), limit=5)
    assert [f.rate for f in later] == [Decimal("-0.00005"), Decimal("0.00031234")]


def test_leverage_tiers(agent_adapter):
    assert agent_adapter.fetch_leverage_tiers(BTC) == [
        LeverageTier(Decimal("0"), Decimal("50000"), 100, Decimal("0.005")),
        LeverageTier(Decimal("50000"), Decimal("250000"), 50, Decimal("0.01")),
        LeverageTier(Decimal("250000"), Decimal("1000000"), 20, Decimal("0.025")),
    ]
    with pytest.raises(InvalidOrder, match="not a perpetual"):
        agent_adapter.fetch_leverage_tiers("ASTER/USDT")


# --- orders, balances, positions (agent key and main key) ----------------------------------------


def test_order_lifecycle_balances_and_positions(adapter, aster_server, aster_wallets, key_kind):
    resting = adapter.create_order(buy("0.010", "rest-1", price="59000.0"))
    assert (resting.status, resting.order_type, resting.price, resting.quantity, resting.filled_quantity) == (
        OrderStatus.OPEN,
        OrderType.LIMIT,
        Decimal("59000"),
        Decimal("0.01"),
        Decimal("0"),
    )
    assert resting.client_order_id == "rest-1" and resting.exchange_order_id

    assert [o.client_order_id for o in adapter.fetch_open_orders(BTC)] == ["rest-1"]
    assert [o.client_order_id for o in adapter.fetch_open_orders()] == ["rest-1"]
    by_id = adapter.fetch_order(BTC, exchange_order_id=resting.exchange_order_id)
    by_client_id = adapter.fetch_order(BTC, client_order_id="rest-1")
    assert by_id.exchange_order_id == by_client_id.exchange_order_id == resting.exchange_order_id

    canceled = adapter.cancel_order(BTC, client_order_id="rest-1")
    assert canceled.status is OrderStatus.CANCELED
    assert adapter.fetch_open_orders(BTC) == []
    with pytest.raises(OrderNotFound):
        adapter.cancel_order(BTC, exchange_order_id=resting.exchange_order_id)
    with pytest.raises(OrderNotFound):
        adapter.fetch_order(BTC, client_order_id="never-placed")

    filled = adapter.create_order(buy("0.010", "mkt-1"))
    assert (filled.status, filled.filled_quantity, filled.average_price, filled.price) == (
        OrderStatus.FILLED,
        Decimal("0.01"),
        Decimal("60000"),
        None,
    )

    # 0.01 BTC at 60,000 = 600 USDT notional; taker fee 0.035 % = 0.21; margin at 20x = 30
    [position] = adapter.fetch_positions()
    assert (
        position.symbol,
        position.side,
        position.quantity,
        position.entry_price,
        position.mark_price,
        position.leverage,
        position.unrealized_pnl,
        position.margin,
    ) == (BTC, PositionSide.LONG, Decimal("0.01"), Decimal("60000"), Decimal("60000"), 20, Decimal("0"), Decimal("30"))
    assert adapter.fetch_balance() == [Balance("USDT", Decimal("9999.79"), Decimal("9969.79"), Decimal("30"))]

    aster_server.state.set_mark_price("BTCUSDT", Decimal("61000.0"))
    [position] = adapter.fetch_positions([BTC])
    assert (position.mark_price, position.unrealized_pnl) == (Decimal("61000"), Decimal("10"))

    closing = OrderRequest(BTC, OrderSide.SELL, OrderType.MARKET, Decimal("0.01"), "close-1", reduce_only=True)
    assert adapter.create_order(closing).reduce_only is True
    assert adapter.fetch_positions() == []
    # 9999.79 + realised 10 - fee 0.01 * 61,000 * 0.00035 (0.2135)
    assert adapter.fetch_balance() == [Balance("USDT", Decimal("10009.5765"), Decimal("10009.5765"), Decimal("0"))]

    signer = aster_wallets.agent.address if key_kind == "agent" else aster_wallets.main.address
    for request in aster_server.requests_to(ORDER_PATH):
        assert request.params["user"].lower() == aster_wallets.main.address
        assert request.params["signer"].lower() == signer
    assert_no_builder_fee(aster_server)


def test_post_only_and_immediate_or_cancel(agent_adapter):
    crossing = agent_adapter.create_order(buy("0.001", "po-1", price="60500.0", time_in_force=TimeInForce.POST_ONLY))
    assert crossing.status is OrderStatus.EXPIRED  # would have taken liquidity
    missed = agent_adapter.create_order(buy("0.001", "ioc-1", price="59000.0", time_in_force=TimeInForce.IOC))
    assert missed.status is OrderStatus.EXPIRED


def test_exchange_side_rejections_are_typed(agent_adapter, aster_server):
    with pytest.raises(InvalidOrder):  # -2022: nothing to reduce
        agent_adapter.create_order(
            OrderRequest(BTC, OrderSide.SELL, OrderType.MARKET, Decimal("0.01"), "ro-1", reduce_only=True)
        )
    with pytest.raises(InsufficientFunds):  # 10 BTC at 60,000 needs 30,000 USDT of margin at 20x
        agent_adapter.create_order(buy("10", "big-1"))
    with pytest.raises(InvalidOrder, match="not trading"):  # our pre-check: OLD is settling
        agent_adapter.create_order(
            OrderRequest("OLD/USDT:USDT", OrderSide.BUY, OrderType.MARKET, Decimal("100"), "old-1")
        )


def test_too_small_or_misaligned_orders_are_refused_before_any_request(agent_adapter, aster_server):
    agent_adapter.load_markets()
    seen = len(aster_server.requests)
    cases = [
        (buy("0.0005", "s1"), "below BTC/USDT:USDT's minimum of 0.001"),
        (buy("0.0015", "s2"), "not a multiple of the lot size 0.001"),
        (buy("0.001", "s3", price="59000.05"), "not a multiple of the tick size 0.1"),
        (buy("0.001", "s4", price="1000.0"), "below the minimum of 5 USDT"),
        (buy("0.001", "has space"), "client order id"),
    ]
    for request, message in cases:
        with pytest.raises(InvalidOrder, match=re.escape(message)):
            agent_adapter.create_order(request)
    limit_without_price = OrderRequest(BTC, OrderSide.BUY, OrderType.LIMIT, Decimal("0.001"), "s6")
    with pytest.raises(InvalidOrder, match="needs a price"):
        agent_adapter.create_order(limit_without_price)
    assert len(aster_server.requests) == seen


def test_check_connection(adapter, aster_wallets, key_kind):
    report = adapter.check_connection()
    assert report.ok and report.can_trade
    assert report.account == aster_wallets.main.address
    assert report.can_withdraw is (key_kind == "main")
    assert report.balances == [Balance("USDT", Decimal("10000"), Decimal("10000"), Decimal("0"))]
    assert ("cannot withdraw" in report.message) is (key_kind == "agent")


# --- faults --------------------------------------------------------------------------------------


def test_5xx_on_reads_is_retried_then_reported_unavailable(agent_adapter, aster_server):
    agent_adapter.load_markets()
    aster_server.fail_next(503, count=2, path=BALANCE_PATH)
    assert agent_adapter.fetch_balance()[0].total == Decimal("10000")  # third attempt succeeds
    assert len(aster_server.requests_to(BALANCE_PATH)) == 3

    aster_server.fail_next(502, count=5, path=BALANCE_PATH)
    with pytest.raises(ExchangeUnavailable, match="502"):
        agent_adapter.fetch_balance()
    assert len(aster_server.requests_to(BALANCE_PATH)) == 3 + 3  # bounded: max_attempts = 3
    assert len(aster_server.faults.pending) == 1


def test_429_is_rate_limited_with_retry_after_and_not_retried(agent_adapter, aster_server):
    agent_adapter.load_markets()
    aster_server.rate_limit_next(retry_after=7, path=BALANCE_PATH)
    with pytest.raises(RateLimited) as caught:
        agent_adapter.fetch_balance()
    assert caught.value.retry_after == 7.0
    assert "Too many requests" in str(caught.value)
    assert len(aster_server.requests_to(BALANCE_PATH)) == 1


def test_malformed_body_is_unavailable(agent_adapter, aster_server):
    agent_adapter.load_markets()
    aster_server.malformed_next(count=3, path=BALANCE_PATH)
    with pytest.raises(ExchangeUnavailable, match="not valid JSON"):
        agent_adapter.fetch_balance()
    aster_server.malformed_next(count=1, path=BALANCE_PATH)
    assert agent_adapter.fetch_balance()[0].total == Decimal("10000")  # the retry gets a good answer


def test_unapproved_or_revoked_signer_is_an_authentication_error(aster_server, aster_wallets):
    stranger = make_adapter(aster_server, aster_wallets.unapproved_agent_credentials())
    with pytest.raises(AuthenticationError, match="neither the user nor an agent"):
        stranger.fetch_balance()
    report = stranger.check_connection()
    assert not report.ok and report.account == aster_wallets.main.address
    assert "neither the user nor an agent" in report.message

    agent = make_adapter(aster_server, aster_wallets.agent_credentials())
    assert agent.check_connection().ok
    aster_server.state.revoke_agent(aster_wallets.main.address, aster_wallets.agent.address)
    with pytest.raises(AuthenticationError):
        agent.fetch_balance()


def test_bad_credentials_are_refused_clearly(aster_server, aster_wallets):
    with pytest.raises(AuthenticationError, match="64 hexadecimal"):
        make_adapter(aster_server, {"private_key": "not-a-key", "wallet_address": aster_wallets.main.address})
    with pytest.raises(AuthenticationError, match="wallet address"):
        make_adapter(aster_server, {"private_key": aster_wallets.agent.private_key, "wallet_address": "0x12"})
    with pytest.raises(AuthenticationError, match="main wallet"):
        make_adapter(aster_server, ExchangeCredentials(kind="agent_key", private_key=aster_wallets.agent.private_key))


def test_timed_out_order_is_recovered_by_client_id_and_never_resubmitted(aster_server, aster_wallets):
    adapter = make_adapter(aster_server, aster_wallets.agent_credentials(), timeout_ms=400)
    adapter.load_markets()
    aster_server.stall_next(1.5)  # the order is accepted, the answer comes after the client gave up
    order = adapter.create_order(buy("0.010", "slow-1"))
    assert (order.client_order_id, order.status, order.filled_quantity) == (
        "slow-1",
        OrderStatus.FILLED,
        Decimal("0.01"),
    )
    assert len(aster_server.requests_to(ORDER_PATH, "POST")) == 1
    lookups = aster_server.requests_to(ORDER_PATH, "GET")
    assert lookups and lookups[0].params["origClientOrderId"] == "slow-1"
    assert [o.client_order_id for o in aster_server.state.orders.values()] == ["slow-1"]


def test_timed_out_order_whose_lookup_fails_is_outcome_unknown(aster_server, aster_wallets):
    adapter = make_adapter(aster_server, aster_wallets.agent_credentials(), timeout_ms=400)
    adapter.load_markets()
    aster_server.stall_next(1.5)
    aster_server.fail_next(503, count=10, path=ORDER_PATH, method="GET")
    with pytest.raises(OrderOutcomeUnknown) as caught:
        adapter.create_order(buy("0.010", "lost-1"))
    assert caught.value.client_order_id == "lost-1"
    assert len(aster_server.requests_to(ORDER_PATH, "POST")) == 1  # never resubmitted
    aster_server.faults.clear()
    assert adapter.fetch_order(BTC, client_order_id="lost-1").status is OrderStatus.FILLED  # it was on the book


def test_create_order_after_5xx_or_broken_answer_looks_the_order_up(agent_adapter, aster_server):
    agent_adapter.load_markets()
    aster_server.fail_next(503, path=ORDER_PATH, method="POST", after_processing=True)
    assert agent_adapter.create_order(buy("0.001", "after-503")).status is OrderStatus.FILLED
    aster_server.malformed_next(path=ORDER_PATH, method="POST")
    assert agent_adapter.create_order(buy("0.001", "after-garbage")).status is OrderStatus.FILLED

    aster_server.fail_next(503, path=ORDER_PATH, method="POST")  # refused before it reached the book
    with pytest.raises(OrderOutcomeUnknown, match="did not find it"):
        agent_adapter.create_order(buy("0.001", "before-503"))
    assert len(aster_server.requests_to(ORDER_PATH, "POST")) == 3
    assert sorted(o.client_order_id for o in aster_server.state.orders.values()) == ["after-503", "after-garbage"]


def test_create_order_rate_limited_or_unreachable_is_not_looked_up(agent_adapter, aster_server):
    agent_adapter.load_markets()
    aster_server.rate_limit_next(retry_after=3, path=ORDER_PATH, method="POST")
    with pytest.raises(RateLimited) as caught:
        agent_adapter.create_order(buy("0.001", "limited-1"))
    assert caught.value.retry_after == 3.0
    assert aster_server.requests_to(ORDER_PATH, "GET") == []

    aster_server.stop()  # nothing listens any more: the request cannot have been sent
    with pytest.raises(ExchangeUnavailable) as unreachable:
        agent_adapter.create_order(buy("0.001", "unreachable-1"))
    assert not isinstance(unreachable.value, OrderOutcomeUnknown)


def test_retried_cancel_is_idempotent(agent_adapter, aster_server):
    resting = agent_adapter.create_order(buy("0.001", "cxl-1", price="50000.0"))
    aster_server.fail_next(503, path=ORDER_PATH, method="DELETE", after_processing=True)
    canceled = agent_adapter.cancel_order(BTC, exchange_order_id=resting.exchange_order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert len(aster_server.requests_to(ORDER_PATH, "DELETE")) == 2  # the retry found it already canceled


def test_ccxt_defaults_would_charge_a_builder_fee(aster_server, aster_wallets):
    """The control for ``assert_no_builder_fee``: plain CCXT approves its builder and adds its fee."""
    exchange = ccxt.aster({"privateKey": aster_wallets.main.private_key, "options": {"defaultType": "swap"}})
    exchange.urls["api"].update(aster_server.ccxt_urls())
    exchange.rateLimit = 1
    exchange.load_markets()
    exchange.create_order(BTC, "market", "buy", 0.001, None, {"clientOrderId": "ccxt-default"})
    assert aster_server.requests_to("/fapi/v3/approveBuilder", "POST")
    [order] = aster_server.requests_to(ORDER_PATH, "POST")
    assert (order.params["builder"], order.params["feeRate"]) == ("0x1F5877C19e3777Cfd15F9d57253eA4aA5254Ec39", "0.001")


# --- the registry ----------------------------------------------------------------------------------


def test_registry(aster_server, aster_wallets, monkeypatch):
    adapter = adapter_for("aster", aster_wallets.agent_credentials(), urls=aster_server.ccxt_urls(), rate_limit_ms=1)
    assert isinstance(adapter, CcxtAdapter) and adapter.market(BTC).lot_size == Decimal("0.001")
    assert {"aster", "binance"} <= set(supported_exchange_ids())
    with pytest.raises(UnknownExchange, match="'no-such-exchange'"):
        adapter_for("no-such-exchange")
    sentinel = object()
    monkeypatch.setitem(ADAPTER_FACTORIES, "paper", lambda credentials, **opts: sentinel)
    assert adapter_for("paper") is sentinel
    assert "paper" in supported_exchange_ids()


# --- the server itself -----------------------------------------------------------------------------


def _nonce(offset_s: float = 0.0) -> str:
    return str(int((time.time() + offset_s) * 1_000_000))


def test_server_verifies_signatures_signers_and_nonces(aster_server, aster_wallets):
    main, agent, stranger = aster_wallets.main, aster_wallets.agent, aster_wallets.stranger
    url = f"{aster_server.base_url}{BALANCE_PATH}"

    def get(query: str) -> requests.Response:
        return requests.get(f"{url}?{query}", timeout=5)

    def params(signer: str, nonce: str | None = None) -> list[tuple[str, str]]:
        return [("nonce", nonce or _nonce()), ("user", main.address), ("signer", signer)]

    good = sign_params(agent.private_key, params(agent.address))
    answer = get(good)
    assert answer.status_code == 200 and answer.json()[0]["asset"] == "USDT"

    replay = get(good)
    assert (replay.status_code, replay.json()["code"]) == (400, -1021)
    assert "already been used" in replay.json()["msg"]

    forged = sign_params(agent.private_key, params(agent.address)).replace(
        f"user={main.address}", f"user={stranger.address}"
    )
    assert (get(forged).status_code, get(forged).json()["code"]) == (400, -1022)

    garbage = sign_params(agent.private_key, params(agent.address)).rsplit("signature=", 1)[0] + "signature=0x1234"
    assert get(garbage).json()["code"] == -1022

    lying = sign_params(stranger.private_key, params(agent.address))  # claims the agent signed
    assert get(lying).json()["code"] == -1022

    unapproved = get(sign_params(stranger.private_key, params(stranger.address)))
    assert (unapproved.status_code, unapproved.json()["code"]) == (401, -2015)

    stale = get(sign_params(agent.private_key, params(agent.address, nonce=_nonce(-60))))
    assert (stale.status_code, stale.json()["code"]) == (400, -1021)
    ahead = get(sign_params(agent.private_key, params(agent.address, nonce=_nonce(+60))))
    assert ahead.json()["code"] == -1021

    unsigned = get("&".join(f"{k}={v}" for k, v in params(agent.address)))
    assert unsigned.json()["code"] == -1102

    body = sign_params(
        main.private_key,
        [
            *params(main.address),
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "0.001"),
            ("newClientOrderId", "raw-1"),
        ],
    )
    placed = requests.post(
        f"{aster_server.base_url}{ORDER_PATH}",
        data=body,
        timeout=5,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert placed.status_code == 200 and placed.json()["status"] == "FILLED"


def test_listen_key(agent_adapter):
    agent_adapter.load_markets()
    answer = agent_adapter.ccxt_exchange.fapiPrivatePostV3ListenKey()
    assert len(answer["listenKey"]) > 20


def test_websocket_klines_and_a_dropped_connection(aster_server):
    hour = current_open_ms(60)
    aster_server.state.set_klines(
        "BTCUSDT",
        "1m",
        [
            (hour - 60_000, "60000.0", "60010.0", "59990.0", "60005.5", "1.5"),
            (hour, "60005.5", "60020.0", "60001.0", "60015.0", "0.25"),
        ],
    )

    async def scenario() -> None:
        exchange = ccxt.pro.aster({"options": {"builderFee": False, "defaultType": "swap"}})
        exchange.urls["api"].update(aster_server.ccxt_urls())
        exchange.urls["api"]["ws"] = aster_server.ccxt_ws_urls()
        try:
            candles = await asyncio.wait_for(exchange.watch_ohlcv(BTC, "1m"), 10)
            assert candles[-1] == [hour, 60005.5, 60020.0, 60001.0, 60015.0, 0.25]
            assert aster_server.ws_messages[0] == {"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"]}

            waiting = asyncio.ensure_future(exchange.watch_ohlcv(BTC, "1m"))
            await asyncio.sleep(0.1)
            assert await asyncio.to_thread(aster_server.drop_websockets) == 1
            with pytest.raises(ccxt.NetworkError):
                await asyncio.wait_for(waiting, 5)

            candles = await asyncio.wait_for(exchange.watch_ohlcv(BTC, "1m"), 10)  # reconnects
            assert candles[-1][0] == hour
            assert aster_server.ws_connections_total == 2

            aster_server.state.set_klines("BTCUSDT", "1m", [(hour, "60005.5", "60030.0", "60001.0", "60029.5", "0.5")])
            update = asyncio.ensure_future(exchange.watch_ohlcv(BTC, "1m"))
            await asyncio.sleep(0.05)
            assert await asyncio.to_thread(aster_server.push_kline, "BTCUSDT", "1m") == 1
            candles = await asyncio.wait_for(update, 5)
            assert candles[-1] == [hour, 60005.5, 60030.0, 60001.0, 60029.5, 0.5]
        finally:
            await exchange.close()

    asyncio.run(scenario())
