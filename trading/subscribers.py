"""Trading's subscribers on the events bus (registered in TradingConfig.ready)."""

from __future__ import annotations

from asterweb.events import Event
from trading.services.exchange_accounts import exchange_account_ensure_paper


def paper_account_for_new_organization(event: Event) -> None:
    """organization.created, in its transaction: every organization has its paper exchange account."""
    exchange_account_ensure_paper(organization=event.organization)
