"""Paper exchange margin: leverage, free collateral, reduce-only, realized and unrealized PnL,
and liquidation at the hand-computed price. BTC's first bracket (below 50,000 USDT of
notional) allows 125x with a maintenance margin rate of 0.4 %."""

from __future__ import annotations

import pytest

from trading.exchanges.base import InsufficientFunds, InvalidOrder, OrderStatus, PositionSide
from trading.models.paper import PaperFill, PaperOrder
from trading.tests.test_paper_support import BTC, D, make_desk

pytestmark = pytest.mark.django_db


def test_margin_plus_taker_fee_must_fit_the_free_balance():
    desk = make_desk(cash_balance=D("1000"))
    desk.price("20000")
    # needs q * 20000 / 10 + q * 20000 * 0.0005 = 2000q + 10q = 2010q
    # q = 0.498: 1000.98 > 1000
    with pytest.raises(InsufficientFunds, match=r"needs 1000\.98 USDT .* 1000 USDT is free"):
        desk.order("buy", "0.498")
    assert desk.order_count() == 0
    assert desk.cash() == D("1000")
    # q = 0.497: 998.97 <= 1000
    assert desk.order("buy", "0.497").status == OrderStatus.FILLED


def test_open_orders_hold_margin_against_new_ones():
    desk = make_desk(cash_balance=D("1000"))
    desk.price("20000")
    desk.order("buy", "0.4", "19000")  # holds 0.4 * 19000 / 10 = 760; free 240
    # 0.12: 2010 * 0.12 = 241.2 > 240
    with pytest.raises(InsufficientFunds):
        desk.order("buy", "0.12")
    # 0.119: 2010 * 0.119 = 239.19 <= 240
    desk.order("buy", "0.119")


def test_closing_orders_need_no_margin_but_each_position_closes_once():
    desk = make_desk(cash_balance=D("1000"))
    desk.price("20000")
    desk.order("buy", "0.49")  # margin 980, fee 0.49 * 20000 * 0.0005 = 4.9; cash 995.1, free 15.1
    assert desk.balance().free == D("15.1")
    # a 0.5 sell closes 0.49 and opens 0.01 short: 0.01 * 20000 / 10 + 0.5 * 20000 * 0.0005 = 20 + 5 = 25 > 15.1
    with pytest.raises(InsufficientFunds, match="needs 25 USDT"):
        desk.order("sell", "0.5")
    # a resting 0.49 sell at 21000 only closes: 0 margin + fee 0.49 * 21000 * 0.0005 = 5.145 <= 15.1
    desk.order("sell", "0.49", "21000")
    assert desk.balance().used == D("980")
    # a second one finds the position already spoken for, so it opens 0.49 short:
    # 0.49 * 21000 / 10 + 5.145 = 1029 + 5.145 = 1034.145 > 15.1
    with pytest.raises(InsufficientFunds, match=r"needs 1034\.145 USDT"):
        desk.order("sell", "0.49", "21000")


def test_leverage_is_per_symbol_bounded_and_fixed_while_exposed():
    desk = make_desk()
    desk.price("20000")
    exchange = desk.exchange
    with pytest.raises(InvalidOrder, match="between 1 and 125, not 126"):
        exchange.set_leverage(BTC, 126)
    exchange.set_leverage(BTC, 125)
    # at 125x the brackets allow 50,000 USDT: 2.501 * 20000 = 50020 is too much, 2.5 * 20000 = 50000 is not
    with pytest.raises(InvalidOrder, match="above the 50000 USDT that 125x leverage allows"):
        desk.order("buy", "2.501")
    order = desk.order("buy", "2.5")
    # margin = 2.5 * 20000 / 125 = 400; fee = 50000 * 0.0005 = 25
    assert (desk.position().margin, order.fee) == (D("400"), D("25"))
    with pytest.raises(InvalidOrder, match="before changing leverage"):
        exchange.set_leverage(BTC, 20)


def test_reduce_only_needs_an_opposite_position_and_never_flips_it():
    desk = make_desk()
    desk.price("20000")
    with pytest.raises(InvalidOrder, match="reduce-only sell needs an open long position"):
        desk.order("sell", "0.1", reduce_only=True)
    desk.order("buy", "0.3")
    with pytest.raises(InvalidOrder, match="reduce-only buy needs an open short position"):
        desk.order("buy", "0.1", reduce_only=True)
    closing = desk.order("sell", "0.5", reduce_only=True)
    # only the 0.3 held is sold; the other 0.2 is canceled, never opened as a short
    assert (closing.status, closing.filled_quantity) == (OrderStatus.CANCELED, D("0.3"))
    assert desk.position().quantity == D("0")


def test_resting_reduce_only_orders_are_canceled_once_the_position_is_gone():
    desk = make_desk()
    desk.price("20000")
    desk.order("buy", "0.3")
    take_profit = desk.order("sell", "0.3", "22000", reduce_only=True)
    assert desk.balance().used == D("600")  # the position's 0.3 * 20000 / 10; reduce-only holds none
    desk.order("sell", "0.3")
    assert desk.exchange.fetch_order(BTC, exchange_order_id=take_profit.exchange_order_id).status == "canceled"


def test_realized_and_unrealized_pnl_through_reduce_and_flip():
    desk = make_desk()
    desk.price("20000")
    desk.order("buy", "0.2")  # fee 0.2 * 20000 * 0.0005 = 2; margin 0.2 * 20000 / 10 = 400
    desk.price("21000")
    (long,) = desk.exchange.fetch_positions()
    assert long.unrealized_pnl == D("200")  # 0.2 * (21000 - 20000)

    reduce = desk.order("sell", "0.05")
    # realized 0.05 * (21000 - 20000) = 50; fee 0.05 * 21000 * 0.0005 = 0.525
    assert desk.fills(reduce)[0].realized_pnl == D("50")
    position = desk.position()
    # margin released pro rata: 400 * 0.15 / 0.2 = 300; entry unchanged
    assert (position.quantity, position.entry_price, position.margin) == (D("0.15"), D("20000"), D("300"))
    assert desk.cash() == D("10047.475")  # 10000 - 2 + 50 - 0.525

    desk.order("sell", "0.25")
    # closes 0.15: realized 0.15 * 1000 = 150; opens 0.1 short at 21000 with 0.1 * 21000 / 10 = 210 margin
    # fee 0.25 * 21000 * 0.0005 = 2.625; cash 10047.475 + 150 - 2.625 = 10194.85
    position = desk.position()
    assert (position.quantity, position.entry_price, position.margin) == (D("-0.1"), D("21000"), D("210"))
    assert position.realized_pnl == D("200")  # 50 + 150
    assert desk.cash() == D("10194.85")

    desk.price("20500")
    (short,) = desk.exchange.fetch_positions()
    # -0.1 * (20500 - 21000) = 50
    assert (short.side, short.quantity, short.unrealized_pnl) == (PositionSide.SHORT, D("0.1"), D("50"))


def test_adding_to_a_position_averages_the_entry():
    desk = make_desk()
    desk.price("20000")
    desk.order("buy", "0.1")
    desk.price("21000")
    desk.order("buy", "0.3")
    position = desk.position()
    # entry (0.1 * 20000 + 0.3 * 21000) / 0.4 = (2000 + 6300) / 0.4 = 20750; margin 200 + 630 = 830
    assert (position.quantity, position.entry_price, position.margin) == (D("0.4"), D("20750"), D("830"))


def test_long_is_liquidated_at_the_hand_computed_price_losing_exactly_its_margin():
    desk = make_desk()
    desk.price("19920")
    desk.order("buy", "0.1")
    # M = 0.1 * 19920 / 10 = 199.2; fee 0.1 * 19920 * 0.0005 = 0.996
    # liq = (E - M/Q) / (1 - mmr) = (19920 - 1992) / (1 - 0.004) = 17928 / 0.996 = 18000
    (position,) = desk.exchange.fetch_positions()
    assert position.liquidation_price == D("18000")
    take_profit = desk.order("sell", "0.1", "21000", reduce_only=True)

    assert desk.advance("19920", "19950", "18000.1", "18500") == []  # low stays above 18000
    changed = desk.advance("18500", "18600", "17500", "17800")  # low 17500 reaches 18000
    liquidation = changed[-1]
    assert liquidation.client_order_id.startswith("liquidation-")
    assert (liquidation.side, liquidation.status, liquidation.average_price) == ("sell", "filled", D("18000"))
    # realized 0.1 * (18000 - 19920) = -192; fee = what is left of the margin 199.2 - 192 = 7.2
    # (= mmr * Q * P = 0.004 * 0.1 * 18000)
    (fill,) = desk.fills(liquidation)
    assert (fill.realized_pnl, fill.fee, fill.liquidity) == (D("-192"), D("7.2"), PaperFill.Liquidity.LIQUIDATION)
    # cash = 10000 - 0.996 - 192 - 7.2 = 9799.804 = 10000 - 0.996 - 199.2
    assert desk.cash() == D("9799.804")
    assert desk.position().quantity == 0
    assert desk.exchange.fetch_positions() == []
    canceled = desk.exchange.fetch_order(BTC, exchange_order_id=take_profit.exchange_order_id)
    assert canceled.status == OrderStatus.CANCELED
    assert take_profit.exchange_order_id in {o.exchange_order_id for o in changed}


def test_short_is_liquidated_when_the_high_reaches_its_price():
    desk = make_desk()
    desk.price("20080")
    desk.order("sell", "0.1")
    # M = 0.1 * 20080 / 10 = 200.8; fee 0.1 * 20080 * 0.0005 = 1.004
    # liq = (E + M/Q) / (1 + mmr) = (20080 + 2008) / 1.004 = 22088 / 1.004 = 22000
    assert desk.exchange.fetch_positions()[0].liquidation_price == D("22000")
    assert desk.advance("20080", "21999.9", "20000", "21500") == []
    (liquidation,) = desk.advance("21500", "22000", "21400", "21900")
    # realized 0.1 * (20080 - 22000) = -192; fee 200.8 - 192 = 8.8 (= 0.004 * 0.1 * 22000)
    assert (liquidation.side, liquidation.average_price, liquidation.fee) == ("buy", D("22000"), D("8.8"))
    assert desk.cash() == D("9798.196")  # 10000 - 1.004 - 200.8


def test_liquidation_price_uses_the_bracket_of_the_position_notional():
    desk = make_desk(cash_balance=D("100000"))
    desk.price("20000")
    # 3 BTC * 20000 = 60000 is in the second bracket (50,000-250,000): mmr 0.5 %
    desk.order("buy", "3")
    # M = 60000 / 10 = 6000; liq = (20000 - 2000) / (1 - 0.005) = 18000 / 0.995 = 18090.45226130653266331658...
    # rounded half-even at 18 places: 18090.452261306532663317
    assert desk.exchange.fetch_positions()[0].liquidation_price == D("18090.452261306532663317")


def test_a_one_x_long_cannot_be_liquidated():
    desk = make_desk(default_leverage=1)
    desk.price("20000")
    desk.order("buy", "0.1")
    # liq = (20000 - 20000) / 0.996 = 0: no price reaches it
    assert desk.exchange.fetch_positions()[0].liquidation_price is None
    assert desk.advance("20000", "20000", "0.1", "1") == []
    assert PaperOrder.objects.for_org(desk.org).filter(client_order_id__startswith="liquidation-").count() == 0
