"""Background jobs for trading."""

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from trading.exchanges.paper.accounts import default_price_source
from trading.marketdata.tasks import ingest_funding_rates
from trading.services.paper_feed import paper_accounts_advance, paper_funding_settle

FUNDING_REQUEST_SECONDS = 300  # ask an exchange for a missing funding rate at most this often per symbol


@shared_task(name="trading.tasks.paper_accounts_advance")
def paper_accounts_advance_task() -> dict:
    """Play newly closed candles to paper accounts, then settle the funding events that have
    passed (both idempotent). A funding rate that is due but not stored yet is collected from the
    reference exchange, so a later run settles it."""
    source = default_price_source()
    now = timezone.now()
    bars = paper_accounts_advance(price_source=source, now=now)
    funding = paper_funding_settle(price_source=source, now=now)
    exchange = getattr(source, "exchange", None)
    for symbol in sorted(funding.symbols_missing_rates) if exchange else []:
        if cache.add(f"paper:funding-requested:{exchange}:{symbol}", now.isoformat(), timeout=FUNDING_REQUEST_SECONDS):
            transaction.on_commit(lambda symbol=symbol: ingest_funding_rates.delay(exchange, symbol))
    return {"bars": bars, **funding.as_json()}
