"""Reads for trading pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Organization
from trading.models import ExchangeAccount


def exchange_accounts_for_org(*, organization: Organization) -> QuerySet[ExchangeAccount]:
    """The organization's exchange accounts, paper first, then by name."""
    return ExchangeAccount.objects.for_org(organization).order_by("-mode", "label")
