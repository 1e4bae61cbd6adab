"""Shared set-up for the paper exchange tests (no tests here): a desk is one organization's
paper account, an in-memory price source and a clock that the test moves bar by bar.

Test accounts start at 10,000 USDT with maker 0.02 %, taker 0.05 %, no slippage, no volume cap
(share 1) and 10x leverage unless a test says otherwise, so each expectation stays short enough
to compute by hand in the comment above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from accounts.models import Organization
from accounts.tests.factories import OrganizationFactory
from trading.exchanges.base import Candle, Order, OrderRequest, OrderSide, OrderType, TimeInForce
from trading.exchanges.paper import InMemoryPriceSource, PaperExchange
from trading.models.paper import PaperAccount, PaperFill, PaperOrder, PaperPosition

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
D = Decimal


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    org: Organization
    account: PaperAccount
    prices: InMemoryPriceSource = field(default_factory=InMemoryPriceSource)
    clock: Clock = field(default_factory=Clock)
    _bars: dict[str, int] = field(default_factory=dict)
    _orders: int = 0

    @property
    def exchange(self) -> PaperExchange:
        """A fresh engine on every use: nothing may survive in memory between calls."""
        return PaperExchange(self.account, price_source=self.prices, clock=self.clock)

    def bar(self, o, h, low, c, volume="1000", *, symbol: str = BTC) -> Candle:
        """Append the next hourly bar of ``symbol``; it becomes "now" (the clock is at its close)."""
        index = self._bars.get(symbol, 0)
        self._bars[symbol] = index + 1
        candle = Candle(open_time=T0 + index * HOUR, open=D(o), high=D(h), low=D(low), close=D(c), volume=D(volume))
        self.prices.add(symbol, candle)
        self.clock.now = candle.open_time + HOUR
        return candle

    def price(self, close, volume="1000", *, symbol: str = BTC) -> Candle:
        """A flat bar at ``close``: sets "the last price" without trading through anything."""
        return self.bar(close, close, close, close, volume, symbol=symbol)

    def advance(self, o, h, low, c, volume="1000", *, symbol: str = BTC) -> list[Order]:
        """The next bar closes: add it and let the engine match it."""
        return self.exchange.on_candle(symbol, self.bar(o, h, low, c, volume, symbol=symbol))

    def order(
        self,
        side: str,
        quantity,
        price=None,
        *,
        tif: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        client_order_id: str | None = None,
        symbol: str = BTC,
    ) -> Order:
        self._orders += 1
        return self.exchange.create_order(
            OrderRequest(
                symbol=symbol,
                side=OrderSide(side),
                order_type=OrderType.LIMIT if price else OrderType.MARKET,
                quantity=D(quantity),
                client_order_id=client_order_id or f"test-{self._orders}",
                price=D(price) if price else None,
                time_in_force=tif,
                reduce_only=reduce_only,
            )
        )

    def cash(self) -> Decimal:
        return PaperAccount.objects.for_org(self.org).get(pk=self.account.pk).cash_balance

    def balance(self):
        (balance,) = self.exchange.fetch_balance()
        return balance

    def position(self, symbol: str = BTC) -> PaperPosition:
        return PaperPosition.objects.for_org(self.org).get(account=self.account, symbol=symbol)

    def fills(self, order: Order) -> list[PaperFill]:
        row = PaperOrder.objects.for_org(self.org).get(account=self.account, exchange_order_id=order.exchange_order_id)
        return list(PaperFill.objects.for_org(self.org).filter(order=row).order_by("id"))

    def order_count(self) -> int:
        return PaperOrder.objects.for_org(self.org).filter(account=self.account).count()


def make_desk(org: Organization | None = None, **settings) -> Desk:
    """A desk on a new (or the given) organization; ``settings`` override the account's."""
    org = org or OrganizationFactory()
    fields = {
        "name": "Test desk",
        "cash_balance": D("10000"),
        "maker_fee_rate": D("0.0002"),
        "taker_fee_rate": D("0.0005"),
        "slippage_bps": D("0"),
        "max_volume_share": D("1"),
        "default_leverage": 10,
    }
    fields.update(settings)
    account = PaperAccount.objects.create(organization=org, **fields)
    return Desk(org=org, account=account)
