"""Where the paper exchange gets market data: the ``PriceSource`` protocol (candles, markets,
leverage brackets and settled funding rates), a built-in table of markets (BTC and ETH
USDT-margined perpetuals) and an in-memory source for tests and scripts.

The market-data store implements ``PriceSource`` over stored candles; it may inherit
``BuiltInMarkets`` for the two methods about markets until it has the venue's own table.
"""

from __future__ import annotations

import bisect
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from trading.exchanges.base import Candle, FundingRate, LeverageTier, Market, MarketType, UnknownSymbol


@runtime_checkable
class PriceSource(Protocol):
    """What the paper exchange needs to know about the market."""

    def markets(self) -> dict[str, Market]:
        """Every tradable market, by CCXT symbol."""
        ...

    def leverage_tiers(self, symbol: str) -> list[LeverageTier]:
        """Notional brackets in ascending order, each with its maximum leverage and maintenance
        margin rate. Raises UnknownSymbol for a symbol it does not list."""
        ...

    def latest_candle(self, symbol: str) -> Candle | None:
        """The bar that is "now": its close is the current price, its volume caps immediate fills.
        A backtest returns its current closed bar; a live source may return the forming bar,
        whose close is the live price. None when nothing is known."""
        ...

    def candles(
        self, symbol: str, timeframe: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Candle]:
        """Bars in ascending open time, from ``since`` (inclusive), at most ``limit``."""
        ...

    def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> list[FundingRate]:
        """The funding events the venue settled for the perpetual ``symbol`` with
        ``since <= funding_time <= until``, oldest first; empty when none is known."""
        ...


def _d(value: str) -> Decimal:
    return Decimal(value)


def _perpetual(base: str, *, tick: str, lot: str, max_leverage: int) -> Market:
    return Market(
        symbol=f"{base}/USDT:USDT",
        exchange_symbol=f"{base}USDT",
        market_type=MarketType.PERPETUAL,
        base=base,
        quote="USDT",
        settle="USDT",
        tick_size=_d(tick),
        lot_size=_d(lot),
        min_quantity=_d(lot),
        min_notional=_d("5"),
        max_leverage=max_leverage,
    )


def _tiers(*rows: tuple[str, str, int, str]) -> list[LeverageTier]:
    return [
        LeverageTier(notional_floor=_d(floor), notional_cap=_d(cap), max_leverage=lev, maintenance_margin_rate=_d(mmr))
        for floor, cap, lev, mmr in rows
    ]


# Contract specs and brackets modeled on the large venues' BTCUSDT/ETHUSDT perpetuals
# (Aster and Binance publish similar tables); illustrative, not a copy of either.
DEFAULT_MARKETS: dict[str, Market] = {
    m.symbol: m
    for m in (
        _perpetual("BTC", tick="0.1", lot="0.001", max_leverage=125),
        _perpetual("ETH", tick="0.01", lot="0.001", max_leverage=100),
    )
}

DEFAULT_LEVERAGE_TIERS: dict[str, list[LeverageTier]] = {
    "BTC/USDT:USDT": _tiers(
        ("0", "50000", 125, "0.004"),
        ("50000", "250000", 100, "0.005"),
        ("250000", "1000000", 50, "0.01"),
        ("1000000", "10000000", 20, "0.025"),
        ("10000000", "20000000", 10, "0.05"),
        ("20000000", "50000000", 5, "0.1"),
        ("50000000", "100000000", 2, "0.25"),
        ("100000000", "200000000", 1, "0.5"),
    ),
    "ETH/USDT:USDT": _tiers(
        ("0", "10000", 100, "0.005"),
        ("10000", "100000", 75, "0.0065"),
        ("100000", "500000", 50, "0.01"),
        ("500000", "1000000", 25, "0.02"),
        ("1000000", "2000000", 10, "0.05"),
        ("2000000", "5000000", 5, "0.1"),
        ("5000000", "10000000", 2, "0.25"),
        ("10000000", "50000000", 1, "0.5"),
    ),
}


class BuiltInMarkets:
    """``markets`` and ``leverage_tiers`` from the built-in table (or the tables given)."""

    def __init__(
        self, *, markets: dict[str, Market] | None = None, tiers: dict[str, list[LeverageTier]] | None = None
    ) -> None:
        self._markets = dict(DEFAULT_MARKETS if markets is None else markets)
        self._tiers = dict(DEFAULT_LEVERAGE_TIERS if tiers is None else tiers)

    def markets(self) -> dict[str, Market]:
        return dict(self._markets)

    def leverage_tiers(self, symbol: str) -> list[LeverageTier]:
        if symbol not in self._tiers:
            raise UnknownSymbol(f"No leverage brackets are known for {symbol}.")
        return list(self._tiers[symbol])


class InMemoryPriceSource(BuiltInMarkets):
    """Candles held in memory, one timeframe; ``add`` appends a bar, the last one is "now".
    ``add_funding`` records a settled funding event."""

    def __init__(self, *, timeframe: str = "1h", **tables) -> None:
        super().__init__(**tables)
        self.timeframe = timeframe
        self._candles: dict[str, list[Candle]] = {}
        self._funding: dict[str, dict[datetime, FundingRate]] = {}

    def add_funding(self, rate: FundingRate) -> FundingRate:
        self._funding.setdefault(rate.symbol, {})[rate.funding_time] = rate
        return rate

    def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> list[FundingRate]:
        events = self._funding.get(symbol, {})
        return [events[moment] for moment in sorted(events) if since <= moment <= until]

    def add(self, symbol: str, candle: Candle) -> Candle:
        bars = self._candles.setdefault(symbol, [])
        if bars and candle.open_time <= bars[-1].open_time:
            raise ValueError(f"Candles must be added in ascending open time ({candle.open_time}).")
        bars.append(candle)
        return candle

    def latest_candle(self, symbol: str) -> Candle | None:
        bars = self._candles.get(symbol)
        return bars[-1] if bars else None

    def candles(
        self, symbol: str, timeframe: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Candle]:
        if timeframe != self.timeframe:
            raise ValueError(f"This source holds {self.timeframe} candles, not {timeframe}.")
        bars = self._candles.get(symbol, [])
        start = 0 if since is None else bisect.bisect_left([c.open_time for c in bars], since)
        selected = bars[start:]
        return selected[:limit] if limit is not None else selected
