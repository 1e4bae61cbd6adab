"""``PaperExchange``: the exchange adapter protocol over ``trading.models.paper`` rows.

The engine keeps nothing in memory but the account's identity, its price source and its
clock: every call reads the rows it needs, and every change happens in one transaction that
first locks the account row (``SELECT … FOR UPDATE``), so concurrent calls on one account run
one after another and a new ``PaperExchange`` over the same account continues exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from itertools import groupby

from django.db import transaction
from django.db.models import Case, F, Q, Sum, When
from django.utils import timezone

from trading.exchanges.base import (
    Balance,
    Candle,
    ConnectionReport,
    ExchangeUnavailable,
    FundingRate,
    InsufficientFunds,
    InvalidOrder,
    LeverageTier,
    Market,
    Order,
    OrderNotFound,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PositionSide,
    TimeInForce,
    UnknownSymbol,
)
from trading.exchanges.paper import rules
from trading.exchanges.paper.prices import PriceSource
from trading.exchanges.paper.results import funding_result, order_result
from trading.models.paper import PaperAccount, PaperFill, PaperFunding, PaperOrder, PaperPosition, new_exchange_order_id


def _reduces(position: Decimal, side: OrderSide) -> bool:
    return position < 0 if side == OrderSide.BUY else position > 0


class PaperExchange:
    """A simulated USDT-margined perpetual futures venue (``exchange_id`` "paper").

    Prices. "Now" is ``price_source.latest_candle(symbol)``: its close is the last price, its
    volume caps what fills immediately. ``on_candle(symbol, candle)`` advances a symbol by one
    closed bar; a bar is matched against an order at most once (``PaperOrder.last_bar_at``), and
    never the bar that was "now" when the order was placed.

    Orders.
    - Market: fills at once at the last price slipped against the taker (``rules.taker_price``),
      paying the taker fee. What the volume cap leaves rests, and fills on later bars at each
      bar's open, slipped, as taker; IOC cancels it instead.
    - Limit that crosses the last price on entry (buy limit >= last, sell limit <= last): fills
      at once as taker at the slipped price but never worse than the limit. Post-only (GTX)
      that would cross is rejected with InvalidOrder; IOC cancels what does not fill at once.
    - Limit that does not cross: rests; a later bar fills it as maker at the limit price when it
      trades through it (buy: low <= limit; sell: high >= limit). A rest of a crossing order
      rests the same way.
    - Partial fills: per order and per bar at most ``max_volume_share`` * bar volume, floored to
      the lot size (``rules.bar_fill_cap``). A fill may be below the market minimum quantity.
    - Reduce-only: refused unless it is against an open position; it fills at most the position
      size, and is canceled once the position is flat or has flipped.
    - Every refusal raises a typed error (InvalidOrder, UnknownSymbol, InsufficientFunds,
      ExchangeUnavailable when there is no price) and stores nothing.

    Margin (isolated, one-way). Positions net per symbol at the symbol's leverage (account
    default until ``set_leverage``). An order is accepted when the part of it that adds
    exposure needs no more than the free balance: opening quantity * reference price / leverage
    plus the taker fee on the whole order. Free = cash - position margins - margin of open
    orders (their opening part at their reference price). The position after the order must fit
    the brackets: notional <= the largest bracket cap allowing that leverage. Margin is checked
    on placement only; a fill never fails.

    Liquidation. Once per bar, before resting limit orders are matched (the pessimistic order),
    a position whose liquidation price (``rules.liquidation_price``, maintenance rate of the
    bracket of its entry notional) is reached by the bar's adverse extreme (low for a long, high
    for a short) is closed at exactly that price by a ``liquidation-…`` order. The margin still
    left at that price (mmr * |Q| * P) is charged as the liquidation fee, so the trader loses
    exactly the position's isolated margin, however far the bar went beyond.

    Funding. ``apply_funding`` pays -Q * mark * rate into cash (positive rate: longs pay, shorts
    receive), once per (account, symbol, funding time), where Q is the position held at the
    funding time (the sum of the fills up to then), so settling late changes nothing: a position
    opened after the funding time owes nothing, one closed after it still pays. Funding and fees
    move cash only; they do not change a position's margin or liquidation price.
    ``trading.services.paper_feed`` applies the venue's stored rates as their times pass.

    Balance. total = cash (deposits + realized PnL - fees ± funding); used = margin of positions
    and open orders; free = total - used. Unrealized PnL is reported per position.
    """

    exchange_id = "paper"

    def __init__(
        self, account: PaperAccount, *, price_source: PriceSource, clock: Callable[[], datetime] = timezone.now
    ) -> None:
        self.account = account  # only its id and organization are used; rows are re-read every call
        self.organization = account.organization
        self.price_source = price_source
        self.clock = clock

    # --- markets and prices ------------------------------------------------------------

    def load_markets(self, *, reload: bool = False) -> dict[str, Market]:
        return self.price_source.markets()

    def market(self, symbol: str) -> Market:
        try:
            return self.price_source.markets()[symbol]
        except KeyError:
            raise UnknownSymbol(f"The paper exchange does not list {symbol}.") from None

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Candle]:
        self.market(symbol)
        return self.price_source.candles(symbol, timeframe, since=since, limit=limit)

    def fetch_leverage_tiers(self, symbol: str) -> list[LeverageTier]:
        self.market(symbol)
        return self.price_source.leverage_tiers(symbol)

    def _current_candle(self, symbol: str) -> Candle:
        candle = self.price_source.latest_candle(symbol)
        if candle is None:
            raise ExchangeUnavailable(f"No price is known for {symbol} yet.")
        return candle

    # --- rows ----------------------------------------------------------------------------

    def _accounts(self):
        return PaperAccount.objects.for_org(self.organization).filter(pk=self.account.pk)

    def _lock(self) -> PaperAccount:
        """The account row, locked until the transaction ends: every write takes this first."""
        return self._accounts().select_for_update().get()

    def _orders(self):
        return PaperOrder.objects.for_org(self.organization).filter(account_id=self.account.pk)

    def _positions(self):
        return PaperPosition.objects.for_org(self.organization).filter(account_id=self.account.pk)

    def _fundings(self):
        return PaperFunding.objects.for_org(self.organization).filter(account_id=self.account.pk)

    def _position(self, account: PaperAccount, symbol: str) -> PaperPosition:
        position, _ = self._positions().get_or_create(
            account=account,
            symbol=symbol,
            defaults={"organization": self.organization, "leverage": account.default_leverage},
        )
        return position

    def _find(self, symbol: str, exchange_order_id: str | None, client_order_id: str | None) -> PaperOrder:
        if exchange_order_id is None and client_order_id is None:
            raise InvalidOrder("Name the order by its exchange order id or its client order id.")
        orders = self._orders().filter(symbol=symbol)
        if exchange_order_id is not None:
            orders = orders.filter(exchange_order_id=exchange_order_id)
        if client_order_id is not None:
            orders = orders.filter(client_order_id=client_order_id)
        order = orders.first()
        if order is None:
            name = exchange_order_id if exchange_order_id is not None else client_order_id
            raise OrderNotFound(f"There is no {symbol} order {name!r} on this paper account.")
        return order

    # --- reads ---------------------------------------------------------------------------

    def fetch_balance(self) -> list[Balance]:
        with transaction.atomic():
            account = self._lock()
            used = self._used_margin(account)
        cash = account.cash_balance
        return [Balance(asset=account.quote_asset, total=cash, free=cash - used, used=used)]

    def _used_margin(self, account: PaperAccount) -> Decimal:
        """Margin of positions plus the opening part of open orders at their reference price."""
        positions = {p.symbol: p for p in self._positions()}
        used = sum((p.margin for p in positions.values()), rules.ZERO)
        open_orders = self._orders().filter(status=OrderStatus.OPEN).order_by("symbol", "id")
        for symbol, group in groupby(open_orders, key=lambda o: o.symbol):
            orders = list(group)
            position = positions.get(symbol)
            quantity = position.quantity if position else rules.ZERO
            leverage = position.leverage if position else account.default_leverage
            opening = rules.opening_quantities(
                quantity, [(OrderSide(o.side), o.remaining_quantity, o.reduce_only) for o in orders]
            )
            used += sum(
                (rules.initial_margin(q, o.reference_price, leverage) for q, o in zip(opening, orders, strict=True)),
                rules.ZERO,
            )
        return used

    def fetch_positions(self, symbols: list[str] | None = None) -> list[Position]:
        positions = self._positions().exclude(quantity=0).order_by("symbol")
        if symbols is not None:
            positions = positions.filter(symbol__in=symbols)
        return [self._position_result(p) for p in positions]

    def _position_result(self, position: PaperPosition) -> Position:
        state = _state(position)
        candle = self.price_source.latest_candle(position.symbol)
        mark = candle.close if candle is not None else None
        return Position(
            symbol=position.symbol,
            side=PositionSide.LONG if position.quantity > 0 else PositionSide.SHORT,
            quantity=abs(position.quantity),
            entry_price=position.entry_price,
            mark_price=mark,
            leverage=position.leverage,
            unrealized_pnl=rules.unrealized_pnl(state, mark) if mark is not None else rules.ZERO,
            liquidation_price=rules.liquidation_price(state, self._maintenance_rate(position)),
            margin=position.margin,
        )

    def _maintenance_rate(self, position: PaperPosition) -> Decimal:
        """The maintenance margin rate of the bracket holding the position's entry notional."""
        notional = abs(position.quantity) * position.entry_price
        return rules.tier_for(self.price_source.leverage_tiers(position.symbol), notional).maintenance_margin_rate

    def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        orders = self._orders().filter(status=OrderStatus.OPEN).order_by("id")
        if symbol is not None:
            orders = orders.filter(symbol=symbol)
        quote = self._accounts().values_list("quote_asset", flat=True).get()
        return [order_result(o, quote) for o in orders]

    def fetch_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        order = self._find(symbol, exchange_order_id, client_order_id)
        return order_result(order, self._accounts().values_list("quote_asset", flat=True).get())

    def fetch_funding_rate(self, symbol: str) -> FundingRate:
        """The last rate this account was charged or paid; rate 0 (and no time) before the first."""
        self.market(symbol)
        last = self._fundings().filter(symbol=symbol).order_by("-funding_time").first()
        if last is None:
            return FundingRate(symbol=symbol, rate=rules.ZERO, funding_time=None)
        return funding_result(last)

    def fetch_funding_rate_history(
        self, symbol: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[FundingRate]:
        """The rates applied to this account, oldest first."""
        self.market(symbol)
        fundings = self._fundings().filter(symbol=symbol).order_by("funding_time")
        if since is not None:
            fundings = fundings.filter(funding_time__gte=since)
        if limit is not None:
            fundings = fundings[:limit]
        return [funding_result(f) for f in fundings]

    def check_connection(self) -> ConnectionReport:
        account = self._accounts().get()
        return ConnectionReport(
            ok=True,
            account=f"paper:{account.pk}",
            can_trade=True,
            can_withdraw=False,
            balances=self.fetch_balance(),
            message=f"{account.name}: simulated trading, no exchange is contacted.",
        )

    # --- writes ---------------------------------------------------------------------------

    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set the symbol's leverage; only while it has no position and no open orders."""
        market = self.market(symbol)
        highest = max(t.max_leverage for t in self.price_source.leverage_tiers(symbol))
        if market.max_leverage is not None:
            highest = min(highest, market.max_leverage)
        if not 1 <= leverage <= highest:
            raise InvalidOrder(f"The leverage for {symbol} must be between 1 and {highest}, not {leverage}.")
        with transaction.atomic():
            account = self._lock()
            position = self._position(account, symbol)
            busy = self._orders().filter(symbol=symbol, status=OrderStatus.OPEN).exists()
            if position.quantity != 0 or busy:
                raise InvalidOrder(f"Close the {symbol} position and cancel its open orders before changing leverage.")
            position.leverage = leverage
            position.save(update_fields=["leverage"])

    def create_order(self, request: OrderRequest) -> Order:
        market = self.market(request.symbol)
        rules.validate_request(request, market)
        candle = self._current_candle(request.symbol)
        now = self.clock()
        with transaction.atomic():
            account = self._lock()
            if self._orders().filter(client_order_id=request.client_order_id).exists():
                raise InvalidOrder(
                    f"An order with client order id {request.client_order_id!r} already exists on this paper account."
                )
            position = self._position(account, request.symbol)
            if request.reduce_only and not _reduces(position.quantity, request.side):
                wanted = "short" if request.side == OrderSide.BUY else "long"
                raise InvalidOrder(f"A reduce-only {request.side} needs an open {wanted} position in {request.symbol}.")
            taker = rules.taker_price(candle.close, request.side, slippage_bps=account.slippage_bps, market=market)
            if request.order_type == OrderType.MARKET:
                takes, reference, fill_price = True, taker, taker
                rules.check_min_notional(market, request.quantity, candle.close)
            else:
                takes = rules.crosses(request.price, candle.close, request.side)
                reference = request.price
                fill_price = rules.crossing_limit_price(request.price, taker, request.side)
            if takes and request.time_in_force == TimeInForce.POST_ONLY:
                raise InvalidOrder(
                    f"The post-only {request.side} at {rules.show(request.price)} would cross the last price "
                    f"{rules.show(candle.close)}, so it was rejected."
                )
            if not request.reduce_only:
                self._check_margin(account, position, request, reference)
            order = PaperOrder.objects.create(
                organization=self.organization,
                account=account,
                client_order_id=request.client_order_id,
                exchange_order_id=new_exchange_order_id(),
                symbol=request.symbol,
                side=request.side,
                order_type=request.order_type,
                time_in_force=request.time_in_force,
                quantity=request.quantity,
                price=request.price,
                reference_price=reference,
                reduce_only=request.reduce_only,
                last_bar_at=candle.open_time,
                created_at=now,
                updated_at=now,
            )
            if takes:
                self._match(
                    account,
                    order,
                    position,
                    market,
                    price=fill_price,
                    liquidity=PaperFill.Liquidity.TAKER,
                    volume=candle.volume,
                    at=now,
                )
            if request.time_in_force == TimeInForce.IOC and order.status == OrderStatus.OPEN:
                order.status, order.updated_at = OrderStatus.CANCELED, now
                order.save(update_fields=["status", "updated_at"])
        return order_result(order, account.quote_asset)

    def _check_margin(
        self, account: PaperAccount, position: PaperPosition, request: OrderRequest, reference: Decimal
    ) -> None:
        """Raise unless the order fits the brackets at the symbol's leverage and the free balance
        covers its opening margin plus the taker fee on the whole order."""
        leverage, quote = position.leverage, account.quote_asset
        size_after = abs(position.quantity + rules.direction(request.side) * request.quantity)
        cap = rules.max_notional(self.price_source.leverage_tiers(request.symbol), leverage)
        if cap is None:
            raise InvalidOrder(f"{leverage}x is above the highest leverage {request.symbol} allows.")
        if size_after * reference > cap:
            raise InvalidOrder(
                f"A {rules.show(size_after)} {request.symbol} position (~{rules.show(size_after * reference)} {quote}) "
                f"is above the {rules.show(cap)} {quote} that {leverage}x leverage allows; "
                "lower the size or the leverage."
            )
        open_orders = self._orders().filter(symbol=request.symbol, status=OrderStatus.OPEN).order_by("id")
        entries = [(OrderSide(o.side), o.remaining_quantity, o.reduce_only) for o in open_orders]
        opening = rules.opening_quantities(position.quantity, [*entries, (request.side, request.quantity, False)])[-1]
        required = rules.initial_margin(opening, reference, leverage) + rules.fee(
            request.quantity, reference, account.taker_fee_rate
        )
        free = account.cash_balance - self._used_margin(account)
        if required > free:
            raise InsufficientFunds(
                f"The order needs {rules.show(required)} {quote} of margin and fees at {leverage}x; "
                f"{rules.show(free)} {quote} is free."
            )

    def cancel_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        with transaction.atomic():
            account = self._lock()
            order = self._find(symbol, exchange_order_id, client_order_id)
            if order.status != OrderStatus.OPEN:
                # as on real venues, an order that is no longer open is "not found" for cancel
                raise OrderNotFound(f"Order {order.exchange_order_id} is {order.status} and cannot be canceled.")
            order.status, order.updated_at = OrderStatus.CANCELED, self.clock()
            order.save(update_fields=["status", "updated_at"])
        return order_result(order, account.quote_asset)

    def on_candle(self, symbol: str, candle: Candle) -> list[Order]:
        """Advance ``symbol`` by one closed bar: market remainders at the open, then liquidation
        at the adverse extreme, then resting limit orders. Returns the orders that changed."""
        if not candle.is_closed:
            raise ValueError("on_candle takes closed candles: a forming bar's range can still grow.")
        market = self.market(symbol)
        now = self.clock()
        with transaction.atomic():
            account = self._lock()
            position = self._position(account, symbol)
            open_orders = self._orders().filter(symbol=symbol, status=OrderStatus.OPEN)
            filled_before = dict(open_orders.values_list("id", "filled_quantity"))
            due = open_orders.filter(Q(last_bar_at__isnull=True) | Q(last_bar_at__lt=candle.open_time))
            due_ids = list(due.order_by("id").values_list("id", flat=True))
            for order in self._open_orders(due_ids, OrderType.MARKET):
                price = rules.taker_price(
                    candle.open, OrderSide(order.side), slippage_bps=account.slippage_bps, market=market
                )
                self._match(
                    account,
                    order,
                    position,
                    market,
                    price=price,
                    liquidity=PaperFill.Liquidity.TAKER,
                    volume=candle.volume,
                    at=now,
                )
            liquidation = self._liquidate_if_reached(account, position, candle, now)
            for order in self._open_orders(due_ids, OrderType.LIMIT):
                if rules.trades_through(order.price, OrderSide(order.side), low=candle.low, high=candle.high):
                    self._match(
                        account,
                        order,
                        position,
                        market,
                        price=order.price,
                        liquidity=PaperFill.Liquidity.MAKER,
                        volume=candle.volume,
                        at=now,
                    )
            self._orders().filter(pk__in=due_ids).update(last_bar_at=candle.open_time)
            changed = [
                o
                for o in self._orders().filter(pk__in=filled_before).order_by("id")
                if o.status != OrderStatus.OPEN or o.filled_quantity != filled_before[o.pk]
            ]
            if liquidation is not None:
                changed.append(liquidation)
        return [order_result(o, account.quote_asset) for o in changed]

    def _open_orders(self, ids: list[int], order_type: OrderType):
        """The still-open orders among ``ids``, re-read one by one: a fill may cancel others."""
        for pk in ids:
            order = self._orders().filter(pk=pk, status=OrderStatus.OPEN, order_type=order_type).first()
            if order is not None:
                yield order

    def _match(
        self,
        account: PaperAccount,
        order: PaperOrder,
        position: PaperPosition,
        market: Market,
        *,
        price: Decimal,
        liquidity: str,
        volume: Decimal,
        at: datetime,
    ) -> bool:
        """Fill what this bar allows of ``order`` at ``price``; False when nothing could fill."""
        side = OrderSide(order.side)
        quantity = min(
            order.remaining_quantity, rules.bar_fill_cap(volume, share=account.max_volume_share, market=market)
        )
        if order.reduce_only:
            quantity = min(quantity, abs(position.quantity)) if _reduces(position.quantity, side) else rules.ZERO
        if quantity <= 0:
            return False
        rate = account.maker_fee_rate if liquidity == PaperFill.Liquidity.MAKER else account.taker_fee_rate
        self._fill(
            account,
            order,
            position,
            quantity=quantity,
            price=price,
            liquidity=liquidity,
            fee=rules.fee(quantity, price, rate),
            at=at,
        )
        return True

    def _fill(
        self,
        account: PaperAccount,
        order: PaperOrder,
        position: PaperPosition,
        *,
        quantity: Decimal,
        price: Decimal,
        liquidity: str,
        fee: Decimal,
        at: datetime,
    ) -> None:
        """Book one fill: position, cash (realized PnL - fee), order, fill row; then cancel the
        reduce-only orders the new position makes pointless."""
        side = OrderSide(order.side)
        effect = rules.apply_fill(_state(position), side=side, quantity=quantity, price=price)
        position.quantity = effect.position.quantity
        position.entry_price = effect.position.entry_price
        position.margin = effect.position.margin
        position.realized_pnl += effect.realized_pnl
        position.updated_at = at
        position.save()
        account.cash_balance = rules.q18(account.cash_balance + effect.realized_pnl - fee)
        account.save(update_fields=["cash_balance"])
        order.average_price = rules.average_price(order.average_price, order.filled_quantity, quantity, price)
        order.filled_quantity += quantity
        order.fee_paid += fee
        order.updated_at = at
        if order.filled_quantity == order.quantity:
            order.status = OrderStatus.FILLED
        elif order.reduce_only and not _reduces(position.quantity, side):
            order.status = OrderStatus.CANCELED
        order.save()
        PaperFill.objects.create(
            organization=self.organization,
            order=order,
            quantity=quantity,
            price=price,
            fee=fee,
            liquidity=liquidity,
            realized_pnl=effect.realized_pnl,
            time=at,
        )
        stale = self._orders().filter(symbol=position.symbol, status=OrderStatus.OPEN, reduce_only=True)
        if position.quantity >= 0:
            stale_sides = [OrderSide.BUY] if position.quantity > 0 else [OrderSide.BUY, OrderSide.SELL]
        else:
            stale_sides = [OrderSide.SELL]
        stale.filter(side__in=stale_sides).exclude(pk=order.pk).update(status=OrderStatus.CANCELED, updated_at=at)

    def _liquidate_if_reached(
        self, account: PaperAccount, position: PaperPosition, candle: Candle, at: datetime
    ) -> PaperOrder | None:
        """Close the position at its liquidation price if the bar's adverse extreme reached it;
        the margin left at that price is the liquidation fee, so exactly the margin is lost."""
        state = _state(position)
        price = rules.liquidation_price(state, self._maintenance_rate(position)) if position.quantity else None
        if price is None:
            return None
        long = position.quantity > 0
        if (long and candle.low > price) or (not long and candle.high < price):
            return None
        side, quantity = (OrderSide.SELL if long else OrderSide.BUY), abs(position.quantity)
        exchange_order_id = new_exchange_order_id()
        order = PaperOrder.objects.create(
            organization=self.organization,
            account=account,
            client_order_id=f"liquidation-{exchange_order_id}",
            exchange_order_id=exchange_order_id,
            symbol=position.symbol,
            side=side,
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.IOC,
            quantity=quantity,
            reference_price=price,
            reduce_only=True,
            last_bar_at=candle.open_time,
            created_at=at,
            updated_at=at,
        )
        realized = rules.apply_fill(state, side=side, quantity=quantity, price=price).realized_pnl
        self._fill(
            account,
            order,
            position,
            quantity=quantity,
            price=price,
            liquidity=PaperFill.Liquidity.LIQUIDATION,
            fee=rules.q18(position.margin + realized),
            at=at,
        )
        return order

    def positions_held_at(self, symbol: str, moments: list[datetime]) -> list[Decimal]:
        """The signed position in ``symbol`` at each of ``moments``: the sum of the account's fills
        up to and including it (a position's quantity is exactly that sum). One query."""
        if not moments:
            return []
        signed = Case(When(order__side=OrderSide.BUY, then=F("quantity")), default=-F("quantity"))
        sums = (
            PaperFill.objects.for_org(self.organization)
            .filter(order__account_id=self.account.pk, order__symbol=symbol)
            .aggregate(
                **{
                    f"at_{index}": Sum(signed, filter=Q(time__lte=moment), default=rules.ZERO)
                    for index, moment in enumerate(moments)
                }
            )
        )
        return [sums[f"at_{index}"] for index in range(len(moments))]

    def apply_funding(self, symbol: str, rate: Decimal, mark_price: Decimal, at: datetime) -> PaperFunding | None:
        """Settle the funding of time ``at`` for the position held then: cash += -Q * mark * rate.
        Idempotent per (account, symbol, funding time): a repeat returns the first payment. None
        when the account held no position in ``symbol`` at ``at``."""
        self.market(symbol)
        with transaction.atomic():
            account = self._lock()
            existing = self._fundings().filter(symbol=symbol, funding_time=at).first()
            if existing is not None:
                return existing
            (quantity,) = self.positions_held_at(symbol, [at])
            if quantity == 0:
                return None
            position = self._positions().get(symbol=symbol)  # a fill created it
            amount = rules.funding_amount(quantity, mark_price=mark_price, rate=rate)
            account.cash_balance = rules.q18(account.cash_balance + amount)
            account.save(update_fields=["cash_balance"])
            return PaperFunding.objects.create(
                organization=self.organization,
                account=account,
                position=position,
                symbol=symbol,
                rate=rate,
                mark_price=mark_price,
                position_quantity=quantity,
                amount=amount,
                funding_time=at,
            )


def _state(position: PaperPosition) -> rules.PositionState:
    return rules.PositionState(position.quantity, position.entry_price, position.margin, position.leverage)
