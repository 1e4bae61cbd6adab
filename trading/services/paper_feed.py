"""Moving the paper exchange forward: every newly closed reference candle is played to the
paper accounts that have something at stake in its symbol (resting orders fill, positions may
be liquidated). A system job across organizations, run by Celery beat."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Min
from django.utils import timezone

from trading.exchanges.base import OrderStatus
from trading.exchanges.paper import PaperExchange
from trading.exchanges.paper.accounts import default_price_source
from trading.exchanges.paper.prices import PriceSource
from trading.models import PaperAccount, PaperOrder, PaperPosition


def _work(now: datetime, lookback: timedelta) -> dict[tuple[int, str], datetime]:
    """(account id, symbol) → the open time from which bars must be played."""
    work: dict[tuple[int, str], datetime] = {}
    open_orders = (
        PaperOrder.all_objects.filter(status=OrderStatus.OPEN)
        .values("account_id", "symbol")
        .annotate(since=Min("created_at"))
    )
    for row in open_orders:
        work[(row["account_id"], row["symbol"])] = row["since"]
    for account_id, symbol in (
        PaperPosition.all_objects.exclude(quantity=0).values_list("account_id", "symbol").distinct()
    ):
        work.setdefault((account_id, symbol), now - lookback)
    return work


def paper_accounts_advance(
    *, price_source: PriceSource | None = None, now: datetime | None = None, lookback: timedelta = timedelta(hours=2)
) -> int:
    """Play closed candles that opened after each order was placed (a bar is matched against an
    order at most once, so re-running is harmless) and, for open positions, the last ``lookback``
    of bars for liquidation. Returns how many bars were played."""
    now = now or timezone.now()
    source = price_source or default_price_source()
    played = 0
    accounts: dict[int, PaperAccount] = {}
    for (account_id, symbol), since in sorted(_work(now, lookback).items()):
        account = accounts.get(account_id) or PaperAccount.all_objects.select_related("organization").get(pk=account_id)
        accounts[account_id] = account
        engine = PaperExchange(account, price_source=source, clock=lambda: now)
        timeframe = getattr(source, "timeframe", "1h")
        for candle in source.candles(symbol, timeframe, since=since):
            if candle.is_closed and candle.open_time >= since:
                engine.on_candle(symbol, candle)
                played += 1
    return played
