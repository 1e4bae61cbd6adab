"""Which paper account serves an organization or a paper-mode exchange account, and the
factory the adapter registry calls for the exchange id "paper"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import Organization
from trading.exchanges.paper.engine import PaperExchange
from trading.exchanges.paper.prices import InMemoryPriceSource, PriceSource
from trading.models.paper import PaperAccount

if TYPE_CHECKING:
    from trading.models.exchange_accounts import ExchangeAccount

STARTING_BALANCE = Decimal("10000")
DEFAULT_ACCOUNT_NAME = "Paper trading"


def paper_account_for_organization(organization: Organization) -> PaperAccount:
    """The organization's default paper account, created on first use with 10,000 USDT and the
    model's default fees (maker 0.02 %, taker 0.05 %), 2 bps slippage and 5x leverage."""
    account, _ = PaperAccount.objects.for_org(organization).get_or_create(
        organization=organization,
        is_default=True,
        defaults={"name": DEFAULT_ACCOUNT_NAME, "quote_asset": "USDT", "cash_balance": STARTING_BALANCE},
    )
    return account


def paper_account_for_exchange_account(exchange_account: ExchangeAccount) -> PaperAccount:
    """The paper account behind a paper-mode exchange account: the one linked to it; else the
    organization's default paper account while it is unlinked (linked now); else a new one
    with 10,000 USDT."""
    organization = exchange_account.organization
    accounts = PaperAccount.objects.for_org(organization)
    default = paper_account_for_organization(organization)
    with transaction.atomic():
        default = accounts.select_for_update().get(pk=default.pk)  # serializes linking per organization
        linked = accounts.filter(exchange_account_id=exchange_account.pk).first()
        if linked is not None:
            return linked
        if default.exchange_account_id is None:
            default.exchange_account_id = exchange_account.pk
            default.save(update_fields=["exchange_account_id"])
            return default
        return accounts.create(
            organization=organization,
            exchange_account_id=exchange_account.pk,
            name=exchange_account.label,
            cash_balance=STARTING_BALANCE,
        )


def default_price_source() -> PriceSource:
    """The price source named by ``settings.PAPER_PRICE_SOURCE`` (a dotted path to a class or
    zero-argument callable, e.g. the market-data store's); without it, the built-in markets and
    no prices, so orders fail with ExchangeUnavailable until one is configured."""
    path = getattr(settings, "PAPER_PRICE_SOURCE", None)
    return import_string(path)() if path else InMemoryPriceSource()


def paper_exchange_adapter(
    credentials: Any = None,
    *,
    exchange_account: ExchangeAccount,
    price_source: PriceSource | None = None,
    clock: Callable[[], datetime] = timezone.now,
) -> PaperExchange:
    """The adapter registry's factory for "paper" (paper accounts need no credentials)."""
    return PaperExchange(
        paper_account_for_exchange_account(exchange_account),
        price_source=price_source or default_price_source(),
        clock=clock,
    )
