"""The exchange adapter protocol: what every exchange (CCXT-backed or the paper exchange)
offers the rest of the system, with typed results in Decimal and a small set of typed errors.

Callers (the order service, bots, market-data ingestion) depend on this module only, never
on CCXT, so a venue can be swapped or simulated without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

# --- vocabulary --------------------------------------------------------------------------


class MarketType(StrEnum):
    SPOT = "spot"
    PERPETUAL = "perpetual"


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    GTC = "GTC"  # rests until filled or canceled
    IOC = "IOC"  # fills what it can now, cancels the rest
    POST_ONLY = "GTX"  # rests as maker or is rejected


class OrderStatus(StrEnum):
    OPEN = "open"  # accepted, resting, possibly partially filled
    FILLED = "filled"
    CANCELED = "canceled"  # possibly partially filled first
    REJECTED = "rejected"
    EXPIRED = "expired"


class PositionSide(StrEnum):
    LONG = "long"
    SHORT = "short"


TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "1w": 604800,
}


# --- errors ------------------------------------------------------------------------------


class ExchangeError(Exception):
    """Base of every error an adapter raises. ``str(error)`` is fit to show a person."""


class UnknownExchange(ExchangeError):
    """No adapter serves this exchange id (neither a CCXT exchange nor a built-in one)."""


class AuthenticationError(ExchangeError):
    """Credentials are wrong, revoked, or lack a permission the call needs."""


class InsufficientFunds(ExchangeError):
    """Not enough balance or margin for the order."""


class InvalidOrder(ExchangeError):
    """The exchange (or our pre-check) refuses the order as specified: size, price, symbol..."""


class UnknownSymbol(InvalidOrder):
    """The exchange does not list this symbol."""


class OrderNotFound(InvalidOrder):
    """No such order (fetch/cancel by an id the exchange does not know, or cancel of an order
    that is no longer open). A subclass of InvalidOrder so existing handlers still catch it."""


class RateLimited(ExchangeError):
    """Too many requests. ``retry_after`` (seconds) when the exchange said."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExchangeUnavailable(ExchangeError):
    """The exchange could not be reached or failed (5xx, maintenance, malformed answer). Safe
    to retry for reads; for order creation see OrderOutcomeUnknown."""


class OrderOutcomeUnknown(ExchangeError):
    """An order request may or may not have reached the book (timeout after sending). Look it
    up by ``client_order_id`` before doing anything else; never resubmit blindly."""

    def __init__(self, message: str, *, client_order_id: str) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id


# --- results -----------------------------------------------------------------------------


def _steps(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


@dataclass(frozen=True)
class Market:
    symbol: str  # CCXT unified symbol, e.g. "BTC/USDT:USDT"
    exchange_symbol: str  # the venue's own id, e.g. "BTCUSDT"
    market_type: MarketType
    base: str
    quote: str
    settle: str | None
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal | None = None
    max_leverage: int | None = None
    active: bool = True

    def round_price(self, price: Decimal) -> Decimal:
        return _steps(price, self.tick_size, ROUND_HALF_EVEN)

    def floor_quantity(self, quantity: Decimal) -> Decimal:
        return _steps(quantity, self.lot_size, ROUND_DOWN)

    def check_order(self, *, quantity: Decimal, price: Decimal | None) -> None:
        """Raise InvalidOrder naming the first rule the order breaks."""
        if not self.active:
            raise InvalidOrder(f"{self.symbol} is not trading.")
        if quantity <= 0:
            raise InvalidOrder("The quantity must be positive.")
        if quantity < self.min_quantity:
            raise InvalidOrder(f"The quantity {quantity} is below {self.symbol}'s minimum of {self.min_quantity}.")
        if _steps(quantity, self.lot_size, ROUND_DOWN) != quantity:
            raise InvalidOrder(f"The quantity {quantity} is not a multiple of the lot size {self.lot_size}.")
        if price is not None:
            if price <= 0:
                raise InvalidOrder("The price must be positive.")
            if _steps(price, self.tick_size, ROUND_DOWN) != price:
                raise InvalidOrder(f"The price {price} is not a multiple of the tick size {self.tick_size}.")
            if self.min_notional is not None and quantity * price < self.min_notional:
                raise InvalidOrder(
                    f"The order value {quantity * price} is below the minimum of {self.min_notional} {self.quote}."
                )


@dataclass(frozen=True)
class Candle:
    open_time: datetime  # UTC
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    is_closed: bool = True  # False for the still-forming last candle


@dataclass(frozen=True)
class Balance:
    asset: str
    total: Decimal
    free: Decimal
    used: Decimal


@dataclass(frozen=True)
class Position:
    symbol: str
    side: PositionSide
    quantity: Decimal  # always positive; the side says the direction
    entry_price: Decimal
    mark_price: Decimal | None
    leverage: int | None
    unrealized_pnl: Decimal
    liquidation_price: Decimal | None = None
    margin: Decimal | None = None


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    client_order_id: str
    price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False


@dataclass(frozen=True)
class Order:
    symbol: str
    side: OrderSide
    order_type: OrderType
    status: OrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    client_order_id: str | None
    exchange_order_id: str | None
    price: Decimal | None = None
    average_price: Decimal | None = None
    fee: Decimal | None = None
    fee_asset: str | None = None
    reduce_only: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class FundingRate:
    symbol: str
    rate: Decimal
    funding_time: datetime | None  # when this rate applies (next, for the current rate)
    mark_price: Decimal | None = None
    index_price: Decimal | None = None


@dataclass(frozen=True)
class LeverageTier:
    notional_floor: Decimal
    notional_cap: Decimal
    max_leverage: int
    maintenance_margin_rate: Decimal


@dataclass(frozen=True)
class ConnectionReport:
    """What "test connection" tells a person about their credentials."""

    ok: bool
    account: str | None  # a fingerprint, e.g. the wallet address; never a secret
    can_trade: bool
    can_withdraw: bool | None  # None when the venue does not say
    balances: list[Balance] = field(default_factory=list)
    message: str = ""


# --- the protocol ------------------------------------------------------------------------


@runtime_checkable
class ExchangeAdapter(Protocol):
    """Synchronous: callers are Celery tasks and request handlers."""

    exchange_id: str

    def load_markets(self, *, reload: bool = False) -> dict[str, Market]: ...

    def market(self, symbol: str) -> Market: ...

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Candle]: ...

    def fetch_balance(self) -> list[Balance]: ...

    def fetch_positions(self, symbols: list[str] | None = None) -> list[Position]: ...

    def fetch_open_orders(self, symbol: str | None = None) -> list[Order]: ...

    def create_order(self, request: OrderRequest) -> Order: ...

    def cancel_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> Order: ...

    def fetch_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> Order: ...

    def fetch_funding_rate(self, symbol: str) -> FundingRate: ...

    def fetch_funding_rate_history(
        self, symbol: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[FundingRate]: ...

    def fetch_leverage_tiers(self, symbol: str) -> list[LeverageTier]: ...

    def check_connection(self) -> ConnectionReport: ...


@runtime_checkable
class SupportsLeverage(Protocol):
    """Optional, beside ExchangeAdapter: venues where leverage is a per-symbol account setting
    (perpetual futures). Callers check ``isinstance(adapter, SupportsLeverage)``."""

    def set_leverage(self, symbol: str, leverage: int) -> None: ...
