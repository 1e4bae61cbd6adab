"""Series keys, timeframe arithmetic and the rules a candle must meet to be stored.

Every period is aligned to UTC boundaries counted from the Unix epoch, except weeks, which
open on Monday 00:00 UTC as exchanges' weekly candles do (1970-01-05 was a Monday).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from asterweb.errors import ApplicationError
from trading.exchanges.base import TIMEFRAME_SECONDS, Candle, MarketType

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WEEK_ORIGIN = 4 * 86_400  # 1970-01-05, a Monday, in epoch seconds

# NUMERIC(30, 12): see trading.models.market_data. Values outside these bounds would be rounded
# or refused by PostgreSQL, so they are rejected with a reason instead.
MAX_DECIMAL_PLACES = 12
MAX_INTEGER_DIGITS = 18


class InvalidSeries(ApplicationError):
    """An unknown timeframe or market type, or an empty exchange or symbol."""

    code = "invalid_series"


class InvalidCandle(ApplicationError):
    """A candle breaks a storage rule (see ``candle_problem``); nothing of its batch was stored."""

    code = "invalid_candle"


def timeframe_seconds(timeframe: str) -> int:
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        known = ", ".join(TIMEFRAME_SECONDS)
        raise InvalidSeries(f"Unknown timeframe {timeframe!r}; use one of {known}.") from None


def timeframe_origin(timeframe: str) -> int:
    """Epoch second from which periods of ``timeframe`` are counted."""
    return WEEK_ORIGIN if timeframe == "1w" else 0


def epoch_seconds(moment: datetime) -> int:
    """Whole epoch seconds of an aware datetime (naive ones are refused, not guessed)."""
    if moment.tzinfo is None:
        raise InvalidCandle(f"{moment.isoformat()} has no time zone; candle times must be aware (UTC).")
    delta = moment - EPOCH
    return delta.days * 86_400 + delta.seconds


def from_epoch(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=int(seconds))


def period_floor(seconds: int, timeframe: str) -> int:
    """The open time (epoch seconds) of the period of ``timeframe`` containing ``seconds``."""
    step, origin = timeframe_seconds(timeframe), timeframe_origin(timeframe)
    return seconds - (seconds - origin) % step


@dataclass(frozen=True)
class SeriesKey:
    """What identifies a candle series; validated on construction."""

    exchange: str
    symbol: str
    market_type: str
    timeframe: str

    def __post_init__(self) -> None:
        if not self.exchange or not self.symbol:
            raise InvalidSeries("A series needs an exchange id and a symbol.")
        if self.market_type not in MarketType._value2member_map_:
            known = ", ".join(MarketType)
            raise InvalidSeries(f"Unknown market type {self.market_type!r}; use one of {known}.")
        timeframe_seconds(self.timeframe)

    @property
    def step(self) -> int:
        return timeframe_seconds(self.timeframe)

    @property
    def origin(self) -> int:
        return timeframe_origin(self.timeframe)

    def filter(self) -> dict[str, str]:
        """The ORM filter selecting this series' rows."""
        return {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "market_type": self.market_type,
            "timeframe": self.timeframe,
        }

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.market_type} {self.timeframe}"


def amount_problem(name: str, value: Decimal) -> str | None:
    """Why ``value`` cannot be stored exactly in a NUMERIC(30, 12) column, or None."""
    if not value.is_finite():
        return f"{name} {value} is not a finite number"
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        return f"{name} {value} is too large (more than {MAX_INTEGER_DIGITS} integer digits)"
    exponent = value.as_tuple().exponent
    if exponent < -MAX_DECIMAL_PLACES and value.normalize().as_tuple().exponent < -MAX_DECIMAL_PLACES:
        return f"{name} {value} has more than {MAX_DECIMAL_PLACES} decimal places"
    return None


def candle_problem(candle: Candle, *, step: int, origin: int = 0) -> str | None:
    """The first rule ``candle`` breaks, in words fit for an import report, or None.

    The same rules hold for every writer (CSV import, exchange ingestion, resampling); the
    table's CHECK constraints repeat the OHLC ones so no other writer can break them.
    """
    moment = candle.open_time
    if moment.tzinfo is None:
        return "timestamp has no time zone"
    delta = moment - EPOCH
    if delta.microseconds or (delta.days * 86_400 + delta.seconds - origin) % step:
        return f"timestamp {moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC is not aligned to the timeframe"
    for name in ("open", "high", "low", "close", "volume"):
        problem = amount_problem(name, getattr(candle, name))
        if problem:
            return problem
    if candle.high < candle.low:
        return f"high {candle.high} is below low {candle.low}"
    for name in ("open", "close"):
        value = getattr(candle, name)
        if not candle.low <= value <= candle.high:
            return f"{name} {value} is outside the low-high range [{candle.low}, {candle.high}]"
    if candle.volume < 0:
        return f"volume {candle.volume} is negative"
    return None


@dataclass(frozen=True)
class CandleArrays:
    """Column arrays of one range, ordered by open time."""

    open_time: np.ndarray  # int64, Unix seconds (UTC)
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    is_closed: np.ndarray  # bool

    def __len__(self) -> int:
        return int(self.open_time.size)

    @property
    def times(self) -> np.ndarray:
        """``open_time`` as ``datetime64[s]`` (UTC)."""
        return self.open_time.astype("datetime64[s]")


PRICE_FIELDS = ("open", "high", "low", "close", "volume")  # the float64 columns of CandleArrays
CANDLE_ARRAY_FIELDS = tuple(item.name for item in fields(CandleArrays))
