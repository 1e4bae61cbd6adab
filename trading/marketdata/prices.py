"""The candle store as the paper exchange's ``PriceSource`` (``trading.exchanges.paper.prices``).

One source reads one exchange's series of one market type and timeframe, and that exchange's
stored funding rates. "Now" is either the newest stored candle (live paper trading: it may be the
forming one, whose close is the last price) or, with ``as_of`` (a backtest's clock), the newest
candle whose period had ended by then, so a simulation never sees a bar before it closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from trading.exchanges.base import Candle, FundingRate
from trading.exchanges.paper.prices import BuiltInMarkets
from trading.marketdata.candles import SeriesKey
from trading.marketdata.selectors import candles_range, funding_rates_between


def _candle(row) -> Candle:
    return Candle(row.open_time, row.open, row.high, row.low, row.close, row.volume, row.is_closed)


class StoredPrices(BuiltInMarkets):
    """A ``PriceSource`` over stored candles; markets and leverage tiers come from the built-in
    table (or the tables given) until the venue's own are stored."""

    def __init__(
        self,
        *,
        exchange: str,
        market_type: str = "perpetual",
        timeframe: str = "1m",
        as_of: datetime | None = None,
        **tables,
    ) -> None:
        super().__init__(**tables)
        self.exchange, self.market_type, self.timeframe = exchange, market_type, timeframe
        self.as_of = as_of

    def _visible(self, symbol: str, timeframe: str | None = None, since: datetime | None = None):
        """Stored candles the source may show: all, or those closed by ``as_of``."""
        series = SeriesKey(self.exchange, symbol, self.market_type, timeframe or self.timeframe)
        rows = candles_range(series=series, start=since)
        if self.as_of is not None:
            rows = rows.filter(open_time__lte=self.as_of - timedelta(seconds=series.step), is_closed=True)
        return rows

    def latest_candle(self, symbol: str) -> Candle | None:
        row = self._visible(symbol).last()
        return _candle(row) if row else None

    def candles(
        self, symbol: str, timeframe: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Candle]:
        rows = self._visible(symbol, timeframe, since)
        return [_candle(row) for row in (rows[:limit] if limit is not None else rows)]

    def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> list[FundingRate]:
        """This exchange's stored funding events of the perpetual ``symbol`` (never clipped by
        ``as_of``: the caller asks only for times that have passed)."""
        rows = funding_rates_between(exchange=self.exchange, symbol=symbol, since=since, until=until)
        return [FundingRate(symbol, row.rate, row.funding_time, mark_price=row.mark_price) for row in rows]


def spot_symbol(symbol: str) -> str:
    """``BTC/USDT:USDT`` (a USDT-settled perpetual) → ``BTC/USDT``, its spot reference."""
    return symbol.split(":", 1)[0]


class ReferencePrices(StoredPrices):
    """Paper perpetuals priced from a stored reference series of the same pair (by default the
    exchange's spot candles): perpetuals track their spot index closely, and the shared data
    holds spot klines. Funding is the exchange's own for the perpetual (``funding_rates`` is
    inherited: the symbol is not mapped to spot), applied by ``trading.services.paper_feed``."""

    def _visible(self, symbol: str, timeframe: str | None = None, since: datetime | None = None):
        return super()._visible(spot_symbol(symbol), timeframe, since)


def paper_price_source() -> ReferencePrices:
    """The product's paper price source (``settings.PAPER_PRICE_SOURCE``): the newest stored candle of
    ``PAPER_REFERENCE_EXCHANGE``/``PAPER_REFERENCE_MARKET_TYPE``/``PAPER_REFERENCE_TIMEFRAME``."""
    return ReferencePrices(
        exchange=settings.PAPER_REFERENCE_EXCHANGE,
        market_type=settings.PAPER_REFERENCE_MARKET_TYPE,
        timeframe=settings.PAPER_REFERENCE_TIMEFRAME,
    )
