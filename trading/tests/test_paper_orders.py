"""Paper exchange orders: fills, slippage, fees, resting limits, partial fills, IOC, post-only,
validation, lookup and cancel. Every expected number is worked out by hand in the comment."""

from __future__ import annotations

import pytest

from trading.exchanges.base import (
    InvalidOrder,
    OrderNotFound,
    OrderStatus,
    TimeInForce,
    UnknownSymbol,
)
from trading.models.paper import PaperFill
from trading.tests.test_paper_support import BTC, ETH, D, make_desk

pytestmark = pytest.mark.django_db


def test_market_buy_fills_at_the_close_slipped_against_the_taker_and_pays_the_taker_fee():
    desk = make_desk(slippage_bps=D("5"))
    desk.price("20000")
    order = desk.order("buy", "0.1")
    # price = 20000 * (1 + 5/10000) = 20010.0 (already a multiple of the 0.1 tick)
    # fee = 0.1 * 20010 * 0.0005 = 2001 * 0.0005 = 1.0005
    assert order.status == OrderStatus.FILLED
    assert (order.filled_quantity, order.average_price, order.fee, order.fee_asset) == (
        D("0.1"),
        D("20010"),
        D("1.0005"),
        "USDT",
    )
    (fill,) = desk.fills(order)
    assert (fill.quantity, fill.price, fill.fee, fill.liquidity) == (
        D("0.1"),
        D("20010"),
        D("1.0005"),
        PaperFill.Liquidity.TAKER,
    )
    # cash = 10000 - 1.0005 = 9998.9995; margin = 0.1 * 20010 / 10 = 200.1; free = 9998.9995 - 200.1 = 9798.8995
    balance = desk.balance()
    assert (balance.total, balance.used, balance.free) == (D("9998.9995"), D("200.1"), D("9798.8995"))
    (position,) = desk.exchange.fetch_positions()
    assert (position.side, position.quantity, position.entry_price, position.margin) == (
        "long",
        D("0.1"),
        D("20010"),
        D("200.1"),
    )


def test_market_sell_slips_down():
    desk = make_desk(slippage_bps=D("5"))
    desk.price("20000")
    order = desk.order("sell", "0.1")
    # price = 20000 * (1 - 5/10000) = 19990.0; fee = 0.1 * 19990 * 0.0005 = 0.9995
    assert (order.average_price, order.fee) == (D("19990"), D("0.9995"))
    assert desk.position().quantity == D("-0.1")


def test_slipped_price_is_rounded_to_the_tick_against_the_taker():
    desk = make_desk(slippage_bps=D("5"))
    desk.price("20000.3")
    # buy:  20000.3 * 1.0005 = 20010.30015 -> up to the 0.1 tick   = 20010.4
    # sell: 20000.3 * 0.9995 = 19990.29985 -> down to the 0.1 tick = 19990.2
    assert desk.order("buy", "0.1").average_price == D("20010.4")
    assert desk.order("sell", "0.1").average_price == D("19990.2")


def test_crossing_limit_takes_at_the_slipped_price_but_never_worse_than_its_limit():
    desk = make_desk(slippage_bps=D("5"))
    desk.price("20000")
    # slipped buy price 20010.0; a 20100 limit gets 20010.0, a 20005 limit gets its own 20005
    generous = desk.order("buy", "0.1", "20100")
    tight = desk.order("buy", "0.1", "20005")
    assert (generous.status, generous.average_price) == (OrderStatus.FILLED, D("20010"))
    assert (tight.status, tight.average_price) == (OrderStatus.FILLED, D("20005"))
    # both are taker fills: 0.1 * 20005 * 0.0005 = 1.00025
    assert tight.fee == D("1.00025")
    assert desk.fills(tight)[0].liquidity == PaperFill.Liquidity.TAKER


def test_resting_limit_fills_as_maker_when_a_later_bar_trades_through_it():
    desk = make_desk()
    desk.price("20000")
    order = desk.order("buy", "0.1", "19500")
    assert order.status == OrderStatus.OPEN
    # reserved margin = 0.1 * 19500 / 10 = 195; free = 10000 - 195 = 9805
    assert (desk.balance().used, desk.balance().free) == (D("195"), D("9805"))

    assert desk.advance("20000", "20100", "19600", "19700") == []  # low 19600 > 19500: no fill
    (changed,) = desk.advance("19700", "19800", "19400", "19450")  # low 19400 <= 19500
    # maker at the limit: fee = 0.1 * 19500 * 0.0002 = 1950 * 0.0002 = 0.39
    assert (changed.status, changed.average_price, changed.fee) == (OrderStatus.FILLED, D("19500"), D("0.39"))
    assert desk.fills(changed)[0].liquidity == PaperFill.Liquidity.MAKER
    assert desk.cash() == D("9999.61")  # 10000 - 0.39
    # mark = the last close 19450: unrealized = 0.1 * (19450 - 19500) = -5
    (position,) = desk.exchange.fetch_positions()
    assert (position.entry_price, position.mark_price, position.unrealized_pnl) == (D("19500"), D("19450"), D("-5"))


def test_resting_sell_fills_when_the_high_reaches_it():
    desk = make_desk()
    desk.price("20000")
    order = desk.order("sell", "0.1", "20500")
    desk.advance("20000", "20499.9", "19900", "20400")  # high 20499.9 < 20500: no fill
    (changed,) = desk.advance("20400", "20500", "20300", "20450")  # high reaches 20500
    assert changed.exchange_order_id == order.exchange_order_id
    # short 0.1 at 20500, maker fee 0.1 * 20500 * 0.0002 = 0.41
    assert (changed.average_price, changed.fee) == (D("20500"), D("0.41"))
    assert desk.position().quantity == D("-0.1")


def test_the_bar_that_was_now_at_placement_never_fills_the_order():
    desk = make_desk()
    now = desk.bar("20000", "20100", "19800", "20000")  # its low went below the limit placed after it
    order = desk.order("buy", "0.1", "19900")
    assert desk.exchange.on_candle(BTC, now) == []
    assert desk.exchange.fetch_order(BTC, exchange_order_id=order.exchange_order_id).status == OrderStatus.OPEN


def test_a_bar_is_matched_once_even_if_delivered_twice():
    desk = make_desk(max_volume_share=D("0.1"))
    desk.price("20000")
    desk.order("buy", "1", "19500")
    bar = desk.bar("20000", "20000", "19000", "19500", volume="3")
    desk.exchange.on_candle(BTC, bar)
    desk.exchange.on_candle(BTC, bar)
    # one bar of 3 BTC at a 10 % share fills 0.3, not 0.6
    assert desk.position().quantity == D("0.3")


def test_maker_and_taker_fees_differ_for_the_same_size_and_price():
    desk = make_desk()
    desk.price("20000")
    taker = desk.order("buy", "0.1")  # 0.1 * 20000 * 0.0005 = 1
    resting = desk.order("sell", "0.1", "20000.1")
    (maker,) = desk.advance("20000", "20000.1", "20000", "20000.1")
    assert maker.exchange_order_id == resting.exchange_order_id
    # 0.1 * 20000.1 * 0.0002 = 2000.01 * 0.0002 = 0.400002
    assert (taker.fee, maker.fee) == (D("1"), D("0.400002"))
    # realized 0.1 * (20000.1 - 20000) = 0.01; cash = 10000 - 1 - 0.400002 + 0.01 = 9998.609998
    assert desk.cash() == D("9998.609998")


def test_resting_limit_fills_partially_across_bars_by_share_of_volume():
    desk = make_desk(max_volume_share=D("0.1"))
    desk.price("20000")
    order = desk.order("buy", "1.2", "19500")
    # bar volume 5 -> cap 0.1 * 5 = 0.5
    (first,) = desk.advance("20000", "20000", "19400", "19600", volume="5")
    assert (first.status, first.filled_quantity) == (OrderStatus.OPEN, D("0.5"))
    # no trade-through: nothing fills whatever the volume
    assert desk.advance("19600", "19800", "19501", "19700", volume="100") == []
    # volume 3.0047 -> 0.30047 floored to the 0.001 lot = 0.3; total 0.8
    (second,) = desk.advance("19700", "19700", "19450", "19500", volume="3.0047")
    assert second.filled_quantity == D("0.8")
    # volume 10 -> cap 1.0, only 0.4 left
    (third,) = desk.advance("19500", "19600", "19500", "19550", volume="10")
    assert (third.status, third.filled_quantity, third.average_price) == (OrderStatus.FILLED, D("1.2"), D("19500"))
    # maker fees 0.5*19500*0.0002 + 0.3*19500*0.0002 + 0.4*19500*0.0002 = 1.95 + 1.17 + 1.56 = 4.68
    assert [f.quantity for f in desk.fills(order)] == [D("0.5"), D("0.3"), D("0.4")]
    assert third.fee == D("4.68")


def test_market_order_remainder_fills_on_the_next_bar_at_its_open():
    desk = make_desk(max_volume_share=D("0.1"), slippage_bps=D("10"))
    desk.price("20000", volume="2")
    order = desk.order("buy", "0.5")
    # cap 0.1 * 2 = 0.2 at 20000 * 1.001 = 20020
    assert (order.status, order.filled_quantity, order.average_price) == (OrderStatus.OPEN, D("0.2"), D("20020"))
    # next bar: cap 0.1 * 3 = 0.3 = the rest, at its open 20100 * 1.001 = 20120.1
    (done,) = desk.advance("20100", "20300", "20050", "20200", volume="3")
    # average = (0.2*20020 + 0.3*20120.1) / 0.5 = (4004 + 6036.03) / 0.5 = 20080.06
    # fees = 0.2*20020*0.0005 + 0.3*20120.1*0.0005 = 2.002 + 3.018015 = 5.020015
    assert (done.status, done.average_price, done.fee) == (OrderStatus.FILLED, D("20080.06"), D("5.020015"))


def test_ioc_cancels_the_unfilled_rest():
    desk = make_desk(max_volume_share=D("0.1"))
    desk.price("20000", volume="2")
    market = desk.order("buy", "0.5", tif=TimeInForce.IOC)
    # cap 0.1 * 2 = 0.2 fills, the other 0.3 is canceled
    assert (market.status, market.filled_quantity) == (OrderStatus.CANCELED, D("0.2"))
    limit = desk.order("buy", "0.5", "20000", tif=TimeInForce.IOC)  # crosses (20000 >= last 20000)
    assert (limit.status, limit.filled_quantity) == (OrderStatus.CANCELED, D("0.2"))
    away = desk.order("buy", "0.1", "19000", tif=TimeInForce.IOC)  # does not cross: nothing fills
    assert (away.status, away.filled_quantity) == (OrderStatus.CANCELED, D("0"))
    assert desk.exchange.fetch_open_orders() == []
    assert desk.position().quantity == D("0.4")


def test_post_only_that_would_cross_is_rejected_and_not_stored():
    desk = make_desk()
    desk.price("20000")
    with pytest.raises(InvalidOrder, match="post-only"):
        desk.order("buy", "0.1", "20000", tif=TimeInForce.POST_ONLY)
    with pytest.raises(InvalidOrder, match="post-only"):
        desk.order("sell", "0.1", "19999.9", tif=TimeInForce.POST_ONLY)
    assert desk.order_count() == 0
    resting = desk.order("buy", "0.1", "19999.9", tif=TimeInForce.POST_ONLY)
    assert resting.status == OrderStatus.OPEN
    (filled,) = desk.advance("20000", "20000", "19999", "19999.5")
    # maker: 0.1 * 19999.9 * 0.0002 = 1999.99 * 0.0002 = 0.399998
    assert (filled.status, filled.fee) == (OrderStatus.FILLED, D("0.399998"))


@pytest.mark.parametrize(
    ("quantity", "price", "message"),
    [
        ("0.0015", "20000", "not a multiple of the lot size 0.001"),
        ("0.0005", "20000", "below BTC/USDT:USDT's minimum of 0.001"),
        ("0", "20000", "must be positive"),
        ("0.1", "20000.05", "not a multiple of the tick size 0.1"),
        ("0.001", "4000", "below the minimum of 5 USDT"),  # 0.001 * 4000 = 4 < 5
    ],
)
def test_bad_sizes_and_prices_are_invalid_orders_naming_the_problem(quantity, price, message):
    desk = make_desk()
    desk.price("20000")
    with pytest.raises(InvalidOrder, match=message):
        desk.order("buy", quantity, price)
    assert desk.order_count() == 0


def test_market_order_below_min_notional_at_the_last_price_is_refused():
    desk = make_desk()
    desk.price("4000")
    with pytest.raises(InvalidOrder, match="below the minimum of 5 USDT"):  # 0.001 * 4000 = 4
        desk.order("buy", "0.001")


def test_unknown_symbol_and_missing_price():
    desk = make_desk()
    with pytest.raises(UnknownSymbol, match="DOGE/USDT:USDT"):
        desk.order("buy", "1", symbol="DOGE/USDT:USDT")
    from trading.exchanges.base import ExchangeUnavailable

    with pytest.raises(ExchangeUnavailable, match="No price"):
        desk.order("buy", "0.1", symbol=ETH)


def test_duplicate_client_order_id_is_a_clear_invalid_order():
    desk = make_desk()
    desk.price("20000")
    first = desk.order("buy", "0.1", "19000", client_order_id="bot-1-0001")
    desk.exchange.cancel_order(BTC, exchange_order_id=first.exchange_order_id)
    with pytest.raises(InvalidOrder, match="client order id 'bot-1-0001' already exists"):
        desk.order("buy", "0.1", "19000", client_order_id="bot-1-0001")
    assert desk.order_count() == 1


def test_fetch_order_by_either_id_fetch_open_orders_and_cancel():
    desk = make_desk()
    desk.price("20000")
    order = desk.order("buy", "0.1", "19000", client_order_id="mine")
    exchange = desk.exchange
    assert exchange.fetch_order(BTC, client_order_id="mine") == order
    assert exchange.fetch_order(BTC, exchange_order_id=order.exchange_order_id) == order
    assert exchange.fetch_open_orders(BTC) == [order]
    assert exchange.fetch_open_orders(ETH) == []
    canceled = exchange.cancel_order(BTC, client_order_id="mine")
    assert canceled.status == OrderStatus.CANCELED
    assert desk.balance().used == D("0")  # the 0.1 * 19000 / 10 = 190 reserved is released
    with pytest.raises(OrderNotFound, match="is canceled and cannot be canceled"):
        exchange.cancel_order(BTC, client_order_id="mine")
    with pytest.raises(OrderNotFound):
        exchange.fetch_order(BTC, client_order_id="not-there")
    with pytest.raises(OrderNotFound):
        exchange.fetch_order(ETH, client_order_id="mine")  # right id, wrong symbol
    with pytest.raises(OrderNotFound):
        exchange.cancel_order(BTC, exchange_order_id="P0")
