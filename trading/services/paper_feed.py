"""Moving the paper exchange forward, as a system job across organizations run by Celery beat
(``trading.tasks.paper_accounts_advance``):

- ``paper_accounts_advance``: every newly closed reference candle is played to the paper accounts
  that have something at stake in its symbol (resting orders fill, positions may be liquidated).
- ``paper_funding_settle``: every funding event that has passed is settled, once, for each paper
  position held at its time, with the rate the reference exchange charged (stored funding rates,
  ``trading.models.FundingRate``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import structlog
from django.db.models import Min, Q
from django.utils import timezone

from trading.exchanges.base import TIMEFRAME_SECONDS, FundingRate, OrderStatus
from trading.exchanges.paper import PaperExchange
from trading.exchanges.paper.accounts import default_price_source
from trading.exchanges.paper.prices import PriceSource
from trading.models import PaperAccount, PaperFunding, PaperOrder, PaperPosition

log = structlog.get_logger(__name__)

# Perpetual venues charge funding every 8 hours from 00:00 UTC (some symbols every 4 or 1 hours, on
# the same grid). These times are *expected*: a stored event at any other time is settled too.
FUNDING_INTERVAL = timedelta(hours=8)
# How far back a run looks for events not settled yet: covers a stopped beat or a rate collected late.
FUNDING_LOOKBACK = timedelta(days=3)


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


# --- funding ---------------------------------------------------------------------------------------


@dataclass
class FundingSettlement:
    """What one ``paper_funding_settle`` run did. Events left unsettled are counted per
    (symbol, funding time) with the number of positions waiting for them."""

    applied: int = 0
    missing_rate: dict[tuple[str, datetime], int] = field(default_factory=lambda: defaultdict(int))
    missing_price: dict[tuple[str, datetime], int] = field(default_factory=lambda: defaultdict(int))

    @property
    def symbols_missing_rates(self) -> set[str]:
        return {symbol for symbol, _ in self.missing_rate}

    def as_json(self) -> dict:
        def listed(missing: dict[tuple[str, datetime], int]) -> list[dict]:
            return [
                {"symbol": symbol, "funding_time": moment.isoformat(), "positions": positions}
                for (symbol, moment), positions in sorted(missing.items())
            ]

        return {
            "funding_applied": self.applied,
            "funding_missing_rate": listed(self.missing_rate),
            "funding_missing_price": listed(self.missing_price),
        }


def funding_times(*, since: datetime, until: datetime, interval: timedelta = FUNDING_INTERVAL) -> list[datetime]:
    """The scheduled funding times in ``[since, until]``: every ``interval`` from 00:00 UTC."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = epoch + -((epoch - since) // interval) * interval  # the first multiple at or after since
    times = []
    while first <= until:
        times.append(first)
        first += interval
    return times


def paper_funding_settle(
    *, price_source: PriceSource | None = None, now: datetime | None = None, lookback: timedelta = FUNDING_LOOKBACK
) -> FundingSettlement:
    """Settle each funding event of the last ``lookback`` that has passed, once per paper position
    held at its time (``PaperExchange.apply_funding``, recorded in ``PaperFunding``), with the rate
    the price source's exchange charged for the position's symbol, at the mark price stored with it
    or else the reference close at that time. An event due with no stored rate (or no price) is
    logged and left for a later run, which settles it once it is collected: a rate is never invented."""
    now = now or timezone.now()
    source = price_source or default_price_source()
    since = now - lookback
    settlement = FundingSettlement()
    settled: dict[tuple[int, str], set[datetime]] = defaultdict(set)
    for account_id, symbol, moment in PaperFunding.all_objects.filter(
        funding_time__gte=since, funding_time__lte=now
    ).values_list("account_id", "symbol", "funding_time"):
        settled[(account_id, symbol)].add(moment)
    # Positions open now, and those that moved within the window (they may have been open at an
    # event and closed since).
    holders = sorted(
        set(
            PaperPosition.all_objects.filter(~Q(quantity=0) | Q(updated_at__gte=since)).values_list(
                "account_id", "symbol"
            )
        )
    )
    scheduled = set(funding_times(since=since, until=now))
    rates: dict[str, dict[datetime, FundingRate]] = {}
    for account_id, symbol in holders:
        if symbol not in rates:
            rates[symbol] = {rate.funding_time: rate for rate in source.funding_rates(symbol, since=since, until=now)}
        due = sorted((scheduled | set(rates[symbol])) - settled[(account_id, symbol)])
        if not due:
            continue
        account = PaperAccount.all_objects.select_related("organization").get(pk=account_id)
        engine = PaperExchange(account, price_source=source, clock=lambda: now)
        for moment, held in zip(due, engine.positions_held_at(symbol, due), strict=True):
            if held == 0:
                continue
            rate = rates[symbol].get(moment)
            if rate is None:
                settlement.missing_rate[(symbol, moment)] += 1
                continue
            mark = rate.mark_price or _reference_close(source, symbol, moment)
            if mark is None:
                settlement.missing_price[(symbol, moment)] += 1
                continue
            engine.apply_funding(symbol, rate.rate, mark, moment)
            settlement.applied += 1
    exchange = getattr(source, "exchange", None)
    for (symbol, moment), positions in sorted(settlement.missing_rate.items()):
        log.warning(
            "paper.funding_rate_missing",
            exchange=exchange,
            symbol=symbol,
            funding_time=moment.isoformat(),
            positions=positions,
        )
    for (symbol, moment), positions in sorted(settlement.missing_price.items()):
        log.warning(
            "paper.funding_price_missing",
            exchange=exchange,
            symbol=symbol,
            funding_time=moment.isoformat(),
            positions=positions,
        )
    return settlement


def _reference_close(source: PriceSource, symbol: str, moment: datetime) -> Decimal | None:
    """The close of the closed reference bar that ended at ``moment``: the paper price then."""
    timeframe = getattr(source, "timeframe", "1h")
    step = timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    bars = source.candles(symbol, timeframe, since=moment - step, limit=1)
    if bars and bars[0].open_time + step == moment and bars[0].is_closed:
        return bars[0].close
    return None
