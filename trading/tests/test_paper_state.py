"""Paper exchange state: it lives in PostgreSQL (a new engine continues exactly), belongs to one
organization, survives concurrent calls, and every organization gets a default account."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from accounts.tenancy import UnscopedQueryError
from accounts.tests.factories import OrganizationFactory
from trading.exchanges.base import (
    ExchangeAdapter,
    InsufficientFunds,
    OrderNotFound,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    SupportsLeverage,
)
from trading.exchanges.paper import (
    InMemoryPriceSource,
    PaperExchange,
    paper_account_for_exchange_account,
    paper_account_for_organization,
    paper_exchange_adapter,
)
from trading.models.exchange_accounts import ExchangeAccount
from trading.models.paper import PaperAccount, PaperOrder, PaperPosition
from trading.tests.test_paper_support import BTC, D, make_desk


@pytest.mark.django_db
def test_it_implements_the_adapter_protocol():
    exchange = make_desk().exchange
    assert isinstance(exchange, ExchangeAdapter)
    assert isinstance(exchange, SupportsLeverage)
    assert exchange.exchange_id == "paper"
    report = exchange.check_connection()
    assert (report.ok, report.can_trade, report.can_withdraw) == (True, True, False)
    assert report.balances[0].total == D("10000")


@pytest.mark.django_db
def test_a_new_engine_over_the_same_account_continues_exactly():
    desk = make_desk(max_volume_share=D("0.1"))
    desk.price("20000")
    first = PaperExchange(desk.account, price_source=desk.prices, clock=desk.clock)
    order = first.create_order(
        OrderRequest(
            symbol=BTC,
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            quantity=D("1"),
            client_order_id="persist",
            price=D("19500"),
        )
    )
    first.on_candle(BTC, desk.bar("20000", "20000", "19400", "19500", volume="4"))  # fills 0.1 * 4 = 0.4
    del first

    # as after a restart: the account row re-read, another price source with the same bars
    account = PaperAccount.objects.for_org(desk.org).get(pk=desk.account.pk)
    prices = InMemoryPriceSource()
    for bar in desk.prices.candles(BTC, "1h"):
        prices.add(BTC, bar)
    second = PaperExchange(account, price_source=prices, clock=desk.clock)
    resumed = second.fetch_order(BTC, client_order_id="persist")
    assert (resumed.status, resumed.filled_quantity) == (OrderStatus.OPEN, D("0.4"))
    # the bar already matched is not matched again by the new engine
    assert second.on_candle(BTC, prices.latest_candle(BTC)) == []
    # the next bar fills the remaining 0.6 (cap 0.1 * 10 = 1)
    bar = desk.bar("19500", "19600", "19450", "19550", volume="10")
    prices.add(BTC, bar)
    (done,) = second.on_candle(BTC, bar)
    assert (done.exchange_order_id, done.status) == (order.exchange_order_id, OrderStatus.FILLED)
    # maker fees 0.4 * 19500 * 0.0002 + 0.6 * 19500 * 0.0002 = 1.56 + 2.34 = 3.9; cash 10000 - 3.9
    assert second.fetch_balance()[0].total == D("9996.1")


@pytest.mark.django_db
def test_another_organizations_paper_account_is_invisible():
    mine, theirs = make_desk(), make_desk()
    mine.price("20000")
    theirs.price("20000")
    their_order = theirs.order("buy", "0.1", "19000", client_order_id="same-id")
    theirs.order("buy", "0.2")
    my_order = mine.order("buy", "0.1", "19000", client_order_id="same-id")  # client ids are per account

    assert not PaperAccount.objects.for_org(mine.org).filter(pk=theirs.account.pk).exists()
    with pytest.raises(OrderNotFound):
        mine.exchange.fetch_order(BTC, exchange_order_id=their_order.exchange_order_id)
    with pytest.raises(OrderNotFound):
        mine.exchange.cancel_order(BTC, exchange_order_id=their_order.exchange_order_id)
    assert mine.exchange.fetch_open_orders() == [my_order]
    assert mine.exchange.fetch_positions() == []
    assert mine.exchange.apply_funding(BTC, D("0.01"), D("20000"), mine.clock.now) is None
    assert theirs.cash() == D("9998")  # only their own fee: 0.2 * 20000 * 0.0005 = 2
    with pytest.raises(UnscopedQueryError):
        list(PaperOrder.objects.all())


@pytest.mark.django_db
def test_an_engine_cannot_be_pointed_at_another_organizations_account():
    mine, theirs = make_desk(), make_desk()
    stolen = PaperAccount.all_objects.get(pk=theirs.account.pk)
    stolen.organization = mine.org  # a forged instance: the engine still scopes by organization
    with pytest.raises(PaperAccount.DoesNotExist):
        PaperExchange(stolen, price_source=theirs.prices).fetch_balance()


@pytest.mark.django_db
def test_every_organization_gets_one_default_paper_account_with_10000_usdt():
    org, other = OrganizationFactory(), OrganizationFactory()
    account = paper_account_for_organization(org)
    assert (account.cash_balance, account.quote_asset, account.is_default) == (Decimal("10000"), "USDT", True)
    assert paper_account_for_organization(org).pk == account.pk
    assert paper_account_for_organization(other).pk != account.pk
    assert PaperAccount.objects.for_org(org).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_orders_cannot_spend_the_same_margin_twice():
    desk = make_desk(cash_balance=D("1000"))
    desk.price("20000")
    desk.exchange.set_leverage(BTC, 10)  # the position row exists, so only the account lock orders the two
    # each needs 0.3 * 20000 / 10 + 0.3 * 20000 * 0.0005 = 600 + 3 = 603; both would need 1206 > 1000
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def place(n: int) -> None:
        try:
            start.wait()
            desk.exchange.create_order(
                OrderRequest(
                    symbol=BTC,
                    side=OrderSide.BUY,
                    order_type=OrderType.MARKET,
                    quantity=D("0.3"),
                    client_order_id=f"race-{n}",
                )
            )
            outcomes.append("filled")
        except InsufficientFunds:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["filled", "refused"]
    position = PaperPosition.objects.for_org(desk.org).get(account=desk.account, symbol=BTC)
    assert position.quantity == D("0.3")
    assert desk.cash() == D("997")  # 1000 - 3


@pytest.mark.django_db
def test_the_registry_factory_serves_a_paper_exchange_account_from_its_own_paper_account():
    org = OrganizationFactory()
    default = paper_account_for_organization(org)
    # the organization's own paper exchange account (made when the organization is, or here)
    first, _ = ExchangeAccount.objects.for_org(org).get_or_create(
        organization=org, label="Paper", defaults={"exchange_id": "paper", "mode": "paper"}
    )
    second = ExchangeAccount.objects.create(organization=org, exchange_id="paper", label="Experiments", mode="paper")
    prices = InMemoryPriceSource()

    adapter = paper_exchange_adapter(None, exchange_account=first, price_source=prices)
    assert isinstance(adapter, PaperExchange)
    assert adapter.account.pk == default.pk  # the first paper exchange account adopts the default account
    assert paper_account_for_exchange_account(first).pk == default.pk
    other = paper_account_for_exchange_account(second)
    assert other.pk != default.pk
    assert (other.exchange_account_id, other.name, other.cash_balance) == (second.pk, "Experiments", D("10000"))
    assert paper_account_for_exchange_account(second).pk == other.pk
    assert PaperAccount.objects.for_org(org).count() == 2
