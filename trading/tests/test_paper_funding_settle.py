"""trading.services.paper_feed.paper_funding_settle: each funding event that has passed is settled
once per paper position held at its time, with the stored rate of the reference exchange; a
missing rate settles nothing and is logged. Amounts are computed by hand in the comments:
payment = -Q * mark * rate (a long pays a positive rate, a short receives it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from trading.exchanges.base import FundingRate
from trading.models.paper import PaperFunding
from trading.services.paper_feed import funding_times, paper_funding_settle
from trading.tests.test_paper_support import BTC, HOUR, T0, D, make_desk

pytestmark = pytest.mark.django_db

EIGHT = T0 + 8 * HOUR  # 2024-01-01 08:00 UTC, a scheduled funding time


def opened_desk(side: str, quantity: str, price: str = "20000", **settings):
    """A desk whose position was opened at 01:00 (the close of the 00:00 bar), at ``price``."""
    desk = make_desk(**settings)
    desk.price(price)
    desk.order(side, quantity)
    return desk


def settle(desk, now):
    return paper_funding_settle(price_source=desk.prices, now=now)


def test_a_long_pays_a_positive_rate_at_the_stored_mark_price():
    desk = opened_desk("buy", "0.1")  # fee 0.1 * 20000 * 0.0005 = 1; cash 9999
    desk.prices.add_funding(FundingRate(BTC, D("0.0001"), EIGHT, mark_price=D("20500")))

    result = settle(desk, EIGHT + HOUR)

    # -0.1 * 20500 * 0.0001 = -2.05 / 10 = -0.205
    assert result.applied == 1
    payment = PaperFunding.objects.for_org(desk.org).get()
    assert (payment.funding_time, payment.rate, payment.mark_price) == (EIGHT, D("0.0001"), D("20500"))
    assert (payment.position_quantity, payment.amount) == (D("0.1"), D("-0.205"))
    assert desk.cash() == D("9998.795")


def test_a_short_receives_a_positive_rate_and_pays_a_negative_one():
    desk = opened_desk("sell", "0.2")  # fee 0.2 * 20000 * 0.0005 = 2; cash 9998
    desk.prices.add_funding(FundingRate(BTC, D("0.0001"), EIGHT, mark_price=D("20000")))
    desk.prices.add_funding(FundingRate(BTC, D("-0.00025"), EIGHT + 8 * HOUR, mark_price=D("19000")))

    settle(desk, EIGHT + 9 * HOUR)

    # 08:00: +0.2 * 20000 * 0.0001 = +0.4;  16:00: +0.2 * 19000 * -0.00025 = -0.95
    amounts = PaperFunding.objects.for_org(desk.org).order_by("funding_time").values_list("amount", flat=True)
    assert list(amounts) == [D("0.4"), D("-0.95")]
    assert desk.cash() == D("9997.45")  # 9998 + 0.4 - 0.95


def test_a_second_run_applies_nothing():
    desk = opened_desk("buy", "0.1")  # cash 9999
    desk.prices.add_funding(FundingRate(BTC, D("0.0003"), EIGHT, mark_price=D("21000")))
    settle(desk, EIGHT + HOUR)  # -0.1 * 21000 * 0.0003 = -0.63

    again = settle(desk, EIGHT + 2 * HOUR)

    assert again.applied == 0
    assert PaperFunding.objects.for_org(desk.org).count() == 1
    assert desk.cash() == D("9998.37")  # 9999 - 0.63, charged once


def test_a_position_opened_after_the_funding_time_pays_nothing():
    desk = make_desk()
    for _ in range(9):  # hourly bars 00:00 .. 08:00: the clock ends at 09:00
        desk.price("20000")
    desk.order("buy", "0.1")  # filled at 09:00, after the 08:00 funding; fee 1
    desk.prices.add_funding(FundingRate(BTC, D("0.0001"), EIGHT, mark_price=D("20000")))

    result = settle(desk, EIGHT + 2 * HOUR)

    assert (result.applied, dict(result.missing_rate)) == (0, {})
    assert PaperFunding.objects.for_org(desk.org).count() == 0
    assert desk.cash() == D("9999")


def test_a_position_closed_after_the_funding_time_still_pays_it():
    desk = make_desk()
    desk.price("20000")
    desk.order("buy", "0.1")  # 01:00, fee 1
    for _ in range(8):  # bars 01:00 .. 08:00: the clock ends at 09:00
        desk.price("20000")
    desk.order("sell", "0.1")  # closed at 09:00, flat; fee 1
    desk.prices.add_funding(FundingRate(BTC, D("0.0001"), EIGHT, mark_price=D("20000")))

    settle(desk, EIGHT + 3 * HOUR)  # the job runs late, after the close

    # held 0.1 at 08:00: -0.1 * 20000 * 0.0001 = -0.2
    assert PaperFunding.objects.for_org(desk.org).get().amount == D("-0.2")
    assert desk.cash() == D("9997.8")  # 10000 - 1 - 1 - 0.2


def test_without_a_stored_rate_nothing_is_applied_and_it_is_logged_until_the_rate_arrives():
    desk = opened_desk("buy", "0.1")  # cash 9999

    with capture_logs() as logs:
        result = settle(desk, EIGHT + HOUR)

    assert result.applied == 0
    assert dict(result.missing_rate) == {(BTC, EIGHT): 1}
    assert result.symbols_missing_rates == {BTC}
    assert [(entry["event"], entry["symbol"], entry["funding_time"]) for entry in logs] == [
        ("paper.funding_rate_missing", BTC, EIGHT.isoformat())
    ]
    assert desk.cash() == D("9999")

    desk.prices.add_funding(FundingRate(BTC, D("0.0002"), EIGHT, mark_price=D("20000")))  # collected late
    assert settle(desk, EIGHT + 2 * HOUR).applied == 1
    assert desk.cash() == D("9998.6")  # -0.1 * 20000 * 0.0002 = -0.4


def test_without_a_stored_mark_price_the_reference_close_at_the_funding_time_is_used():
    desk = make_desk()
    desk.price("20000")
    desk.order("buy", "0.1")  # 01:00, fee 1; cash 9999
    for close in ("20000",) * 6 + ("20100",):  # bars 01:00 .. 07:00; the 07:00 bar closes at 08:00
        desk.price(close)
    desk.prices.add_funding(FundingRate(BTC, D("0.0001"), EIGHT))

    settle(desk, EIGHT + HOUR)

    # -0.1 * 20100 * 0.0001 = -0.201
    payment = PaperFunding.objects.for_org(desk.org).get()
    assert (payment.mark_price, payment.amount) == (D("20100"), D("-0.201"))


def test_no_price_at_the_funding_time_applies_nothing():
    desk = opened_desk("buy", "0.1")  # only the 00:00 bar exists
    desk.prices.add_funding(FundingRate(BTC, D("0.0001"), EIGHT))

    with capture_logs() as logs:
        result = settle(desk, EIGHT + HOUR)

    assert (result.applied, dict(result.missing_price)) == (0, {(BTC, EIGHT): 1})
    assert [entry["event"] for entry in logs] == ["paper.funding_price_missing"]
    assert desk.cash() == D("9999")


def test_an_event_off_the_eight_hour_grid_is_settled_too():
    desk = opened_desk("buy", "0.1")  # cash 9999
    desk.prices.add_funding(FundingRate(BTC, D("0.0001"), T0 + 4 * HOUR, mark_price=D("20000")))  # a 4-hour venue

    result = settle(desk, T0 + 5 * HOUR)

    assert result.applied == 1
    assert desk.cash() == D("9998.8")  # -0.1 * 20000 * 0.0001 = -0.2


def test_a_rate_that_has_not_passed_is_not_applied():
    desk = opened_desk("buy", "0.1")
    desk.prices.add_funding(FundingRate(BTC, D("0.0001"), EIGHT, mark_price=D("20000")))

    assert settle(desk, EIGHT - timedelta(seconds=1)).applied == 0
    assert desk.cash() == D("9999")


def test_only_the_position_holders_are_charged():
    holder = opened_desk("buy", "0.1")
    bystander = make_desk()
    bystander.price("20000")
    holder.prices.add_funding(FundingRate(BTC, D("0.0001"), EIGHT, mark_price=D("20000")))

    settle(holder, EIGHT + HOUR)

    assert PaperFunding.objects.for_org(holder.org).count() == 1
    assert PaperFunding.objects.for_org(bystander.org).count() == 0
    assert bystander.cash() == D("10000")


def test_funding_times_are_every_eight_hours_from_midnight_utc():
    assert funding_times(since=T0 - HOUR, until=T0 + 16 * HOUR) == [T0, T0 + 8 * HOUR, T0 + 16 * HOUR]
    assert funding_times(since=T0 + timedelta(minutes=1), until=T0 + 8 * HOUR) == [T0 + 8 * HOUR]
    assert funding_times(since=T0 + HOUR, until=T0 + 7 * HOUR) == []
