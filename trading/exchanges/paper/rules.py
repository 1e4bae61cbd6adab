"""The paper exchange's rules as pure functions of Decimals: slippage, fees, volume caps, margin,
position accounting, liquidation, funding and order validation. No database and no clock; ``engine``
applies them.

Positions are USDT-margined linear perpetuals in one-way mode with isolated margin:
``Q`` is the signed size (positive long), ``E`` the entry price, ``M`` the isolated margin,
``L`` the leverage, ``mmr`` the maintenance margin rate of the position's bracket.
Every result that is stored is rounded half-even to 18 decimal places, as the database does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext

from trading.exchanges.base import (
    InvalidOrder,
    LeverageTier,
    Market,
    MarketType,
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
)

ZERO = Decimal(0)
_Q18 = Decimal("1e-18")
_WIDE = Context(prec=60)
_BPS = Decimal(10_000)


def q18(value: Decimal) -> Decimal:
    """``value`` rounded half-even to the 18 decimal places the database keeps."""
    return value.quantize(_Q18, rounding=ROUND_HALF_EVEN, context=_WIDE)


def _exact(fn):
    """Compute with 60 significant digits, so only the final ``q18`` rounds."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with localcontext(_WIDE):
            return fn(*args, **kwargs)

    return wrapper


def show(value: Decimal) -> str:
    """A Decimal for a message: no exponent, no trailing zeros."""
    return f"{value.normalize():f}"


def direction(side: OrderSide) -> int:
    return 1 if side == OrderSide.BUY else -1


def _to_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (price / tick).to_integral_value(rounding=rounding) * tick


@_exact
def taker_price(reference: Decimal, side: OrderSide, *, slippage_bps: Decimal, market: Market) -> Decimal:
    """Slippage model: a taker pays ``slippage_bps`` against itself on the reference price.

    buy:  reference * (1 + bps/10 000), rounded **up** to the tick
    sell: reference * (1 - bps/10 000), rounded **down** to the tick
    (e.g. 20 000 with 5 bps: buy 20 010.0, sell 19 990.0). No size-dependent impact: size is
    limited instead by the share of bar volume an order may take (``bar_fill_cap``).
    """
    factor = 1 + direction(side) * slippage_bps / _BPS
    rounding = ROUND_CEILING if side == OrderSide.BUY else ROUND_FLOOR
    return q18(_to_tick(reference * factor, market.tick_size, rounding))


def crossing_limit_price(limit: Decimal, taker: Decimal, side: OrderSide) -> Decimal:
    """A limit order that crosses on entry takes at the slipped price, but never worse than its
    limit: the lower of the two for a buy, the higher for a sell."""
    return min(limit, taker) if side == OrderSide.BUY else max(limit, taker)


def crosses(limit: Decimal, last_price: Decimal, side: OrderSide) -> bool:
    """A buy limit at or above the last price (a sell at or below it) would take liquidity."""
    return limit >= last_price if side == OrderSide.BUY else limit <= last_price


def trades_through(limit: Decimal, side: OrderSide, *, low: Decimal, high: Decimal) -> bool:
    """A resting buy fills when the bar's low reaches its limit; a sell when the high does."""
    return low <= limit if side == OrderSide.BUY else high >= limit


@_exact
def bar_fill_cap(volume: Decimal, *, share: Decimal, market: Market) -> Decimal:
    """The most one order may fill in one bar: ``share * volume``, floored to the lot size."""
    return q18((volume * share / market.lot_size).to_integral_value(rounding=ROUND_DOWN) * market.lot_size)


@_exact
def fee(quantity: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """fee = quantity * price * rate (maker or taker), in the quote asset."""
    return q18(quantity * price * rate)


def tier_for(tiers: list[LeverageTier], notional: Decimal) -> LeverageTier:
    """The bracket with floor <= notional < cap (the last bracket beyond its cap)."""
    for tier in tiers:
        if notional < tier.notional_cap:
            return tier
    return tiers[-1]


def max_notional(tiers: list[LeverageTier], leverage: int) -> Decimal | None:
    """The largest position notional the brackets allow at ``leverage`` (None: none allow it)."""
    caps = [t.notional_cap for t in tiers if t.max_leverage >= leverage]
    return max(caps) if caps else None


@_exact
def initial_margin(quantity: Decimal, price: Decimal, leverage: int) -> Decimal:
    """initial margin = quantity * price / leverage."""
    return q18(quantity * price / leverage)


def opening_quantities(position: Decimal, orders: list[tuple[OrderSide, Decimal, bool]]) -> list[Decimal]:
    """How much of each open order (side, remaining, reduce_only) would add exposure, given the
    signed position: orders against the position use up its size first, in the given order;
    the rest of them, and all orders with the position, open. Reduce-only orders open nothing."""
    reducible = {OrderSide.SELL: max(position, ZERO), OrderSide.BUY: max(-position, ZERO)}
    opening = []
    for side, remaining, reduce_only in orders:
        closing = min(remaining, reducible[side])
        reducible[side] -= closing
        opening.append(ZERO if reduce_only else remaining - closing)
    return opening


@dataclass(frozen=True)
class PositionState:
    quantity: Decimal  # signed
    entry_price: Decimal
    margin: Decimal
    leverage: int


@dataclass(frozen=True)
class FillEffect:
    position: PositionState
    realized_pnl: Decimal  # before fees
    closed_quantity: Decimal
    opened_quantity: Decimal


@_exact
def apply_fill(position: PositionState, *, side: OrderSide, quantity: Decimal, price: Decimal) -> FillEffect:
    """Net a fill of ``quantity`` at ``price`` into the position (one-way mode, isolated margin).

    - adding (flat or same side): E' = (|Q|·E + q·p) / (|Q| + q); M' = M + q·p/L
    - reducing by c = min(q, |Q|): realized = c·(p - E)·sign(Q); M' = M·(|Q| - c)/|Q|
      (margin is released pro rata, so E, M/|Q| and the liquidation price do not move)
    - flipping: what is left of q after closing opens a new position at p with q'·p/L margin.
    """
    size, sign = abs(position.quantity), (1 if position.quantity > 0 else -1)
    signed = direction(side)
    if position.quantity == 0 or sign == signed:
        new_size = size + quantity
        entry = q18((size * position.entry_price + quantity * price) / new_size)
        margin = position.margin + initial_margin(quantity, price, position.leverage)
        state = PositionState(signed * new_size, entry, margin, position.leverage)
        return FillEffect(state, ZERO, ZERO, quantity)
    closed = min(quantity, size)
    realized = q18(closed * (price - position.entry_price) * sign)
    left, opened = size - closed, quantity - closed
    if left > 0:
        state = PositionState(sign * left, position.entry_price, q18(position.margin * left / size), position.leverage)
    elif opened > 0:
        state = PositionState(
            signed * opened, price, initial_margin(opened, price, position.leverage), position.leverage
        )
    else:
        state = PositionState(ZERO, ZERO, ZERO, position.leverage)
    return FillEffect(state, realized, closed, opened)


@_exact
def average_price(average: Decimal | None, filled: Decimal, quantity: Decimal, price: Decimal) -> Decimal:
    """The order's volume-weighted average fill price after one more fill."""
    return q18(((average or ZERO) * filled + quantity * price) / (filled + quantity))


@_exact
def unrealized_pnl(position: PositionState, mark: Decimal) -> Decimal:
    """unrealized PnL = Q * (mark - E) (signed Q, so a short gains when the mark falls)."""
    return q18(position.quantity * (mark - position.entry_price))


@_exact
def liquidation_price(position: PositionState, maintenance_margin_rate: Decimal) -> Decimal | None:
    """The mark at which the position's equity falls to its maintenance margin.

    equity M + Q·(P - E) = mmr·|Q|·P, solved for P:
      long:  P = (E - M/|Q|) / (1 - mmr)
      short: P = (E + M/|Q|) / (1 + mmr)
    With M = |Q|·E/L: long E·(1 - 1/L)/(1 - mmr), short E·(1 + 1/L)/(1 + mmr).
    None when flat or when the price would have to reach zero (a 1x long).
    """
    if position.quantity == 0:
        return None
    size = abs(position.quantity)
    if position.quantity > 0:
        price = (position.entry_price - position.margin / size) / (1 - maintenance_margin_rate)
    else:
        price = (position.entry_price + position.margin / size) / (1 + maintenance_margin_rate)
    return q18(price) if price > 0 else None


@_exact
def funding_amount(quantity: Decimal, *, mark_price: Decimal, rate: Decimal) -> Decimal:
    """The account's funding cash flow: -Q * mark * rate. A positive rate makes longs pay and
    shorts receive |Q| * mark * rate; a negative rate the reverse."""
    return q18(-quantity * mark_price * rate)


def validate_request(request: OrderRequest, market: Market) -> None:
    """Refuse what no price can make valid: wrong market type, ids, prices, sizes."""
    if market.market_type != MarketType.PERPETUAL:
        raise InvalidOrder(f"The paper exchange simulates perpetual futures; {market.symbol} is {market.market_type}.")
    if not request.client_order_id or len(request.client_order_id) > 64:
        raise InvalidOrder("A client order id of 1 to 64 characters is required.")
    if request.order_type == OrderType.LIMIT:
        if request.price is None:
            raise InvalidOrder("A limit order needs a price.")
        market.check_order(quantity=request.quantity, price=request.price)
        return
    if request.price is not None:
        raise InvalidOrder("A market order takes no price.")
    if request.time_in_force == TimeInForce.POST_ONLY:
        raise InvalidOrder("A market order cannot be post-only.")
    market.check_order(quantity=request.quantity, price=None)


def check_min_notional(market: Market, quantity: Decimal, last_price: Decimal) -> None:
    """A market order's value is judged at the last price."""
    if market.min_notional is not None and quantity * last_price < market.min_notional:
        raise InvalidOrder(
            f"The order value {show(quantity * last_price)} is below the minimum of "
            f"{show(market.min_notional)} {market.quote}."
        )
