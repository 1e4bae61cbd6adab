"""The paper exchange's state: accounts, orders, fills, positions and funding payments.

Everything the simulator knows lives in these rows (``trading.exchanges.paper`` holds none),
so a restarted worker, or a second ``PaperExchange`` over the same account, continues exactly.
Money, prices and quantities are ``Decimal`` with 18 decimal places; times are UTC.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.tenancy import TenantModel
from trading.exchanges.base import OrderSide, OrderStatus, OrderType, TimeInForce

__all__ = ["PaperAccount", "PaperFill", "PaperFunding", "PaperOrder", "PaperPosition"]


def _decimal(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=38, decimal_places=18, **kwargs)


def _rate(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=8, **kwargs)


def _choices(enum) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum]


def new_exchange_order_id() -> str:
    """The id the paper venue gives an order: random, so it reveals nothing about other accounts."""
    return "P" + secrets.token_hex(10)


class PaperAccount(TenantModel):
    """A simulated USDT-margined perpetual futures account with its own fee and fill settings.

    ``cash_balance`` is the wallet balance: deposits + realized PnL - fees ± funding. Margin held
    by positions and open orders is part of it (``used``), not taken out of it.
    """

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="paper_accounts")
    exchange_account = models.OneToOneField(
        "trading.ExchangeAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The paper-mode exchange account this simulates.",
    )
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False, help_text="The organization's own paper account.")
    quote_asset = models.CharField(max_length=16, default="USDT")
    cash_balance = _decimal(default=Decimal(0))
    maker_fee_rate = _rate(default=Decimal("0.0002"))
    taker_fee_rate = _rate(default=Decimal("0.0005"))
    slippage_bps = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal(2))
    max_volume_share = _rate(
        default=Decimal("0.1"), help_text="At most this share of a bar's volume fills per order per bar."
    )
    default_leverage = models.PositiveSmallIntegerField(default=5)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=Q(is_default=True), name="paper_account_one_default_per_org"
            ),
            models.CheckConstraint(
                condition=Q(maker_fee_rate__gte=0, taker_fee_rate__gte=0, slippage_bps__gte=0),
                name="paper_account_costs_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(max_volume_share__gt=0, max_volume_share__lte=1), name="paper_account_volume_share_range"
            ),
            models.CheckConstraint(condition=Q(default_leverage__gte=1), name="paper_account_leverage_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.organization_id})"


class PaperOrder(TenantModel):
    """An order on a paper account; liquidations appear here too (client id ``liquidation-…``)."""

    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="+")
    client_order_id = models.CharField(max_length=64)
    exchange_order_id = models.CharField(max_length=32, default=new_exchange_order_id)
    symbol = models.CharField(max_length=64)
    side = models.CharField(max_length=4, choices=_choices(OrderSide))
    order_type = models.CharField(max_length=10, choices=_choices(OrderType))
    time_in_force = models.CharField(max_length=3, choices=_choices(TimeInForce), default=TimeInForce.GTC)
    quantity = _decimal()
    price = _decimal(null=True, blank=True)
    # The price margin is reserved at while the order is open: the limit price, or the expected
    # fill price of a market order when it was placed.
    reference_price = _decimal()
    filled_quantity = _decimal(default=Decimal(0))
    average_price = _decimal(null=True, blank=True)
    fee_paid = _decimal(default=Decimal(0))
    status = models.CharField(max_length=10, choices=_choices(OrderStatus), default=OrderStatus.OPEN)
    reduce_only = models.BooleanField(default=False)
    # Open time of the last bar this order was matched against: a bar is never used twice.
    last_bar_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["account", "client_order_id"], name="paper_order_unique_client_id"),
            models.UniqueConstraint(fields=["account", "exchange_order_id"], name="paper_order_unique_exchange_id"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="paper_order_quantity_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0, filled_quantity__lte=models.F("quantity")),
                name="paper_order_filled_within_quantity",
            ),
        ]
        indexes = [models.Index(fields=["account", "status", "symbol"], name="paper_order_open_idx")]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} ({self.status})"

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity


class PaperFill(TenantModel):
    """One execution of a paper order."""

    class Liquidity(models.TextChoices):
        MAKER = "maker", "Maker"
        TAKER = "taker", "Taker"
        LIQUIDATION = "liquidation", "Liquidation"

    order = models.ForeignKey(PaperOrder, on_delete=models.CASCADE, related_name="+")
    quantity = _decimal()
    price = _decimal()
    fee = _decimal()
    liquidity = models.CharField(max_length=12, choices=Liquidity.choices)
    realized_pnl = _decimal(default=Decimal(0), help_text="PnL this fill realized, before its fee.")
    time = models.DateTimeField()

    class Meta(TenantModel.Meta):
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="paper_fill_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.quantity} @ {self.price} ({self.liquidity})"


class PaperPosition(TenantModel):
    """The net (one-way mode), isolated-margin position of an account in one symbol.

    The row outlives a flat position (``quantity`` 0): it keeps the symbol's leverage setting
    and the cumulative realized PnL.
    """

    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="+")
    symbol = models.CharField(max_length=64)
    quantity = _decimal(default=Decimal(0), help_text="Signed: positive long, negative short.")
    entry_price = _decimal(default=Decimal(0))
    leverage = models.PositiveSmallIntegerField()
    margin = _decimal(default=Decimal(0), help_text="Isolated margin held by the position.")
    realized_pnl = _decimal(default=Decimal(0), help_text="Cumulative, before fees and funding.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol"], name="paper_position_unique_symbol"),
            models.CheckConstraint(condition=Q(leverage__gte=1), name="paper_position_leverage_positive"),
            models.CheckConstraint(condition=Q(margin__gte=0), name="paper_position_margin_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.symbol} @ {self.entry_price}"


class PaperFunding(TenantModel):
    """A funding payment: ``amount`` is from the account's side (negative = paid)."""

    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="+")
    position = models.ForeignKey(PaperPosition, on_delete=models.CASCADE, related_name="+")
    symbol = models.CharField(max_length=64)
    rate = _decimal()
    mark_price = _decimal()
    position_quantity = _decimal(help_text="Signed position size the payment was computed on.")
    amount = _decimal()
    funding_time = models.DateTimeField()

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol", "funding_time"], name="paper_funding_once_per_time")
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.rate} at {self.funding_time}: {self.amount}"
