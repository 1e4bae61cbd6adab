"""Background jobs for trading."""

from celery import shared_task

from trading.services.paper_feed import paper_accounts_advance


@shared_task(name="trading.tasks.paper_accounts_advance")
def paper_accounts_advance_task() -> int:
    """Play newly closed candles to paper accounts (idempotent: bars are matched once)."""
    return paper_accounts_advance()
