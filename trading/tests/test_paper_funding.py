"""Paper exchange funding: longs pay and shorts receive on a positive rate, the reverse on a
negative one, once per (account, symbol, funding time)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from trading.models.paper import PaperFunding
from trading.tests.test_paper_support import BTC, ETH, T0, D, make_desk

pytestmark = pytest.mark.django_db

FUNDING = T0 + timedelta(hours=8)


def test_a_long_pays_a_positive_rate_and_receives_a_negative_one():
    desk = make_desk()
    desk.price("20000")
    desk.order("buy", "0.1")  # fee 0.1 * 20000 * 0.0005 = 1; cash 9999
    payment = desk.exchange.apply_funding(BTC, D("0.0001"), D("20500"), FUNDING)
    # -Q * mark * rate = -0.1 * 20500 * 0.0001 = -0.205
    assert (payment.amount, payment.position_quantity) == (D("-0.205"), D("0.1"))
    assert desk.cash() == D("9998.795")  # 9999 - 0.205
    desk.exchange.apply_funding(BTC, D("-0.0003"), D("20000"), FUNDING + timedelta(hours=8))
    # -0.1 * 20000 * -0.0003 = +0.6
    assert desk.cash() == D("9999.395")  # 9998.795 + 0.6


def test_a_short_receives_a_positive_rate_and_pays_a_negative_one():
    desk = make_desk()
    desk.price("20000")
    desk.order("sell", "0.2")  # fee 0.2 * 20000 * 0.0005 = 2; cash 9998
    payment = desk.exchange.apply_funding(BTC, D("0.0001"), D("20000"), FUNDING)
    assert payment.amount == D("0.4")  # -(-0.2) * 20000 * 0.0001
    desk.exchange.apply_funding(BTC, D("-0.00025"), D("19000"), FUNDING + timedelta(hours=8))
    # -(-0.2) * 19000 * -0.00025 = -0.95
    assert desk.cash() == D("9997.45")  # 9998 + 0.4 - 0.95


def test_funding_is_applied_once_per_symbol_and_time():
    desk = make_desk()
    desk.price("20000")
    desk.order("buy", "0.1")  # cash 9999
    first = desk.exchange.apply_funding(BTC, D("0.0001"), D("20000"), FUNDING)  # -0.1 * 20000 * 0.0001 = -0.2
    again = desk.exchange.apply_funding(BTC, D("0.0005"), D("25000"), FUNDING)  # a retry with other numbers
    assert again.pk == first.pk
    assert again.amount == D("-0.2")
    assert desk.cash() == D("9998.8")  # charged once
    assert PaperFunding.objects.for_org(desk.org).count() == 1


def test_no_position_no_funding():
    desk = make_desk()
    desk.price("2000", symbol=ETH)
    assert desk.exchange.apply_funding(ETH, D("0.0001"), D("2000"), FUNDING) is None
    assert desk.cash() == D("10000")
    assert PaperFunding.objects.for_org(desk.org).count() == 0


def test_funding_rates_read_back_from_what_was_applied():
    desk = make_desk()
    desk.price("20000")
    exchange = desk.exchange
    assert exchange.fetch_funding_rate(BTC).rate == 0  # nothing charged yet
    desk.order("buy", "0.1")
    exchange.apply_funding(BTC, D("0.0001"), D("20000"), FUNDING)
    exchange.apply_funding(BTC, D("-0.0002"), D("20100"), FUNDING + timedelta(hours=8))
    history = exchange.fetch_funding_rate_history(BTC)
    assert [(r.rate, r.funding_time) for r in history] == [
        (D("0.0001"), FUNDING),
        (D("-0.0002"), FUNDING + timedelta(hours=8)),
    ]
    latest = exchange.fetch_funding_rate(BTC)
    assert (latest.rate, latest.mark_price) == (D("-0.0002"), D("20100"))


def test_funding_does_not_move_the_liquidation_price():
    desk = make_desk()
    desk.price("19920")
    desk.order("buy", "0.1")
    desk.exchange.apply_funding(BTC, D("0.01"), D("19920"), FUNDING)
    # still (19920 - 1992) / 0.996 = 18000: funding is settled in cash, not in the isolated margin
    assert desk.exchange.fetch_positions()[0].liquidation_price == D("18000")
