"""The paper exchange's pure rules (``trading.exchanges.paper.rules``), checked against numbers
worked out by hand."""

from __future__ import annotations

import pytest

from trading.exchanges.base import OrderSide
from trading.exchanges.paper import DEFAULT_LEVERAGE_TIERS, DEFAULT_MARKETS, rules
from trading.tests.test_paper_support import BTC, ETH, D

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def test_taker_price_slips_then_rounds_to_the_tick_against_the_taker():
    eth = DEFAULT_MARKETS[ETH]  # tick 0.01
    # 2000 * 1.0003 = 2000.6; 2000 * 0.9997 = 1999.4
    assert rules.taker_price(D("2000"), BUY, slippage_bps=D("3"), market=eth) == D("2000.6")
    assert rules.taker_price(D("2000"), SELL, slippage_bps=D("3"), market=eth) == D("1999.4")
    # 2000.01 * 1.0003 = 2000.610003 -> 2000.62 (up); 2000.01 * 0.9997 = 1999.409997 -> 1999.40 (down)
    assert rules.taker_price(D("2000.01"), BUY, slippage_bps=D("3"), market=eth) == D("2000.62")
    assert rules.taker_price(D("2000.01"), SELL, slippage_bps=D("3"), market=eth) == D("1999.40")


def test_bar_fill_cap_floors_to_the_lot():
    btc = DEFAULT_MARKETS[BTC]  # lot 0.001
    assert rules.bar_fill_cap(D("3.0047"), share=D("0.1"), market=btc) == D("0.3")  # 0.30047 -> 0.300
    assert rules.bar_fill_cap(D("0.009"), share=D("0.1"), market=btc) == D("0")  # 0.0009 -> 0


def test_opening_quantities_spend_the_position_once_in_order():
    # long 1: sell 0.6 closes 0.6; sell 0.6 closes the last 0.4 and opens 0.2; buy 0.5 opens 0.5;
    # a reduce-only sell opens nothing
    orders = [(SELL, D("0.6"), False), (SELL, D("0.6"), False), (BUY, D("0.5"), False), (SELL, D("0.3"), True)]
    assert rules.opening_quantities(D("1"), orders) == [D("0"), D("0.2"), D("0.5"), D("0")]
    # flat: everything opens
    assert rules.opening_quantities(D("0"), [(SELL, D("0.3"), False)]) == [D("0.3")]


def test_apply_fill_flips_a_short_into_a_long():
    short = rules.PositionState(quantity=D("-0.5"), entry_price=D("100"), margin=D("10"), leverage=5)
    effect = rules.apply_fill(short, side=BUY, quantity=D("0.8"), price=D("90"))
    # closes 0.5: realized 0.5 * (90 - 100) * (-1) = 5; opens 0.3 at 90 with 0.3 * 90 / 5 = 5.4 margin
    assert (effect.realized_pnl, effect.closed_quantity, effect.opened_quantity) == (D("5"), D("0.5"), D("0.3"))
    assert effect.position == rules.PositionState(D("0.3"), D("90"), D("5.4"), 5)


def test_liquidation_price_for_a_long_and_a_short():
    # long 2 @ 960 at 4x: M = 2 * 960 / 4 = 480; (960 - 480/2) / (1 - 0.04) = 720 / 0.96 = 750
    long = rules.PositionState(D("2"), D("960"), D("480"), 4)
    assert rules.liquidation_price(long, D("0.04")) == D("750")
    # short 2 @ 1040 at 4x: M = 520; (1040 + 520/2) / (1 + 0.04) = 1300 / 1.04 = 1250
    short = rules.PositionState(D("-2"), D("1040"), D("520"), 4)
    assert rules.liquidation_price(short, D("0.04")) == D("1250")
    # at the liquidation price equity equals maintenance margin: 480 + 2 * (750 - 960) = 60 = 0.04 * 2 * 750
    assert D("480") + 2 * (D("750") - D("960")) == D("0.04") * 2 * D("750")
    assert rules.liquidation_price(rules.PositionState(D("0"), D("0"), D("0"), 4), D("0.04")) is None


def test_brackets():
    tiers = DEFAULT_LEVERAGE_TIERS[BTC]
    assert rules.tier_for(tiers, D("49999.99")).maintenance_margin_rate == D("0.004")
    assert rules.tier_for(tiers, D("50000")).maintenance_margin_rate == D("0.005")  # floor is inclusive
    assert rules.tier_for(tiers, D("1e12")).maintenance_margin_rate == D("0.5")  # beyond the last cap
    # brackets allowing >= 20x: 125x, 100x, 50x, 20x; the largest cap among them is 10,000,000
    assert rules.max_notional(tiers, 20) == D("10000000")
    assert rules.max_notional(tiers, 126) is None


@pytest.mark.parametrize(
    ("quantity", "rate", "expected"),
    [
        ("0.5", "0.0001", "-2"),  # long pays 0.5 * 40000 * 0.0001 = 2
        ("-0.5", "0.0001", "2"),  # short receives 2
        ("0.5", "-0.0001", "2"),  # negative rate: long receives
        ("-0.5", "-0.0001", "-2"),  # and short pays
    ],
)
def test_funding_amount_signs(quantity, rate, expected):
    assert rules.funding_amount(D(quantity), mark_price=D("40000"), rate=D(rate)) == D(expected)
