"""The test server's in-memory venue: symbols and their filters, leverage brackets, mark prices,
funding, klines, and per-wallet accounts (balances, one-way positions, orders, approved agents).

Everything is Decimal. Response shapes follow Aster's v3 futures API (Binance-futures-like) as
CCXT 4.5.90's ``aster`` parsers read them. Methods are called under ``state.lock`` by the server
and may be called by tests to arrange or inspect the venue.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)
TAKER_FEE = Decimal("0.00035")
MAKER_FEE = Decimal("0.0001")
FUNDING_INTERVAL_MS = 8 * 3600 * 1000
DEFAULT_LEVERAGE = 20
INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
_CLIENT_ORDER_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
OPEN_STATUSES = {"NEW", "PARTIALLY_FILLED"}


def now_ms() -> int:
    return int(time.time() * 1000)


class ApiError(Exception):
    """An error answer: HTTP status plus Binance-style {"code", "msg"}."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def fmt(value: Decimal, step: Decimal) -> str:
    """Format with exactly as many decimals as ``step`` has (how the venue prints prices/sizes)."""
    exponent = step.normalize().as_tuple().exponent
    quantum = Decimal(1).scaleb(min(int(exponent), 0))
    if value == 0:
        value = ZERO
    return format(value.quantize(quantum, rounding=ROUND_HALF_EVEN), "f")


def fmt8(value: Decimal) -> str:
    return fmt(value, Decimal("0.00000001"))


@dataclass(frozen=True)
class Bracket:
    floor: Decimal
    cap: Decimal
    leverage: int
    mmr: Decimal
    cum: Decimal


@dataclass
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    market: str = "perp"  # or "spot"
    status: str = "TRADING"
    brackets: list[Bracket] = field(default_factory=list)

    @property
    def max_leverage(self) -> int:
        return max(b.leverage for b in self.brackets) if self.brackets else 1

    def bracket_for(self, notional: Decimal) -> Bracket:
        chosen = self.brackets[0]
        for bracket in self.brackets:
            if notional >= bracket.floor:
                chosen = bracket
        return chosen


def brackets(*rows: tuple[str, str, int, str]) -> list[Bracket]:
    """Brackets from (floor, cap, leverage, maintenance margin rate); ``cum`` (the maintenance
    amount) is derived the way Binance defines it: cum_n = cum_{n-1} + floor_n * (mmr_n - mmr_{n-1})."""
    out: list[Bracket] = []
    cum, previous_mmr = ZERO, None
    for floor, cap, leverage, mmr in rows:
        if previous_mmr is not None:
            cum += Decimal(floor) * (Decimal(mmr) - previous_mmr)
        out.append(Bracket(Decimal(floor), Decimal(cap), leverage, Decimal(mmr), cum))
        previous_mmr = Decimal(mmr)
    return out


def default_symbols() -> dict[tuple[str, str], SymbolSpec]:
    specs = [
        SymbolSpec(
            "BTCUSDT",
            "BTC",
            "USDT",
            Decimal("0.1"),
            Decimal("0.001"),
            Decimal("0.001"),
            Decimal("1000"),
            Decimal("5"),
            brackets=brackets(
                ("0", "50000", 100, "0.005"), ("50000", "250000", 50, "0.01"), ("250000", "1000000", 20, "0.025")
            ),
        ),
        SymbolSpec(
            "ETHUSDT",
            "ETH",
            "USDT",
            Decimal("0.01"),
            Decimal("0.001"),
            Decimal("0.001"),
            Decimal("10000"),
            Decimal("5"),
            brackets=brackets(("0", "25000", 75, "0.0065"), ("25000", "100000", 25, "0.02")),
        ),
        SymbolSpec(
            "ASTERUSDT",
            "ASTER",
            "USDT",
            Decimal("0.0001"),
            Decimal("1"),
            Decimal("1"),
            Decimal("1000000"),
            Decimal("5"),
            brackets=brackets(("0", "10000", 50, "0.01"), ("10000", "50000", 20, "0.025")),
        ),
        SymbolSpec(
            "OLDUSDT",
            "OLD",
            "USDT",
            Decimal("0.001"),
            Decimal("0.1"),
            Decimal("0.1"),
            Decimal("100000"),
            Decimal("5"),
            status="SETTLING",
            brackets=brackets(("0", "5000", 10, "0.05")),
        ),
        SymbolSpec(
            "ASTERUSDT",
            "ASTER",
            "USDT",
            Decimal("0.00001"),
            Decimal("0.01"),
            Decimal("0.01"),
            Decimal("9000000"),
            Decimal("1"),
            market="spot",
        ),
    ]
    return {(s.market, s.symbol): s for s in specs}


@dataclass
class Order:
    order_id: int
    client_order_id: str
    user: str
    symbol: str
    side: str
    type: str
    orig_qty: Decimal
    price: Decimal
    time_in_force: str
    reduce_only: bool
    status: str
    time_ms: int
    update_ms: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    params: dict[str, str] = field(default_factory=dict)

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO

    def to_json(self, spec: SymbolSpec) -> dict:
        return {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "status": self.status,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price, spec.tick),
            "avgPrice": fmt(self.avg_price, min(spec.tick, Decimal("0.00001"))),
            "origQty": fmt(self.orig_qty, spec.step),
            "executedQty": fmt(self.executed_qty, spec.step),
            "cumQty": fmt(self.executed_qty, spec.step),
            "cumQuote": fmt8(self.cum_quote),
            "timeInForce": self.time_in_force,
            "type": self.type,
            "reduceOnly": self.reduce_only,
            "closePosition": False,
            "side": self.side,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": self.type,
            "time": self.time_ms,
            "updateTime": self.update_ms,
        }


@dataclass
class Position:
    amount: Decimal = ZERO  # signed: > 0 long, < 0 short
    entry: Decimal = ZERO
    update_ms: int = 0


@dataclass
class Account:
    address: str
    balances: dict[str, Decimal]
    agents: set[str] = field(default_factory=set)
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    builders: list[dict] = field(default_factory=list)


class VenueState:
    def __init__(self, symbols: dict[tuple[str, str], SymbolSpec] | None = None) -> None:
        self.lock = threading.RLock()
        self.symbols: dict[tuple[str, str], SymbolSpec] = symbols or default_symbols()
        self.mark_prices: dict[str, Decimal] = {
            "BTCUSDT": Decimal("60000.0"),
            "ETHUSDT": Decimal("3000.00"),
            "ASTERUSDT": Decimal("1.2345"),
            "OLDUSDT": Decimal("0.500"),
        }
        self.index_prices: dict[str, Decimal] = {s: p for s, p in self.mark_prices.items()}
        self.funding_rates: dict[str, Decimal] = {s: Decimal("0.0001") for s in self.mark_prices}
        self.funding_history: dict[str, list[tuple[int, Decimal]]] = {}
        self.klines: dict[tuple[str, str], list[list]] = {}
        self.accounts: dict[str, Account] = {}
        self.account_brackets: dict[str, dict[str, list[Bracket]]] = {}
        self.orders: dict[int, Order] = {}
        self.listen_keys: dict[str, str] = {}
        self._next_order_id = 4_000_000_001

    # --- arranging ------------------------------------------------------------------------

    def add_account(
        self, address: str, *, balances: dict[str, Decimal] | None = None, agents: list[str] = ()
    ) -> Account:
        with self.lock:
            account = Account(
                address.lower(), dict(balances or {"USDT": Decimal("10000")}), {a.lower() for a in agents}
            )
            self.accounts[account.address] = account
            return account

    def approve_agent(self, user: str, agent: str) -> None:
        with self.lock:
            self.accounts[user.lower()].agents.add(agent.lower())

    def revoke_agent(self, user: str, agent: str) -> None:
        with self.lock:
            self.accounts[user.lower()].agents.discard(agent.lower())

    def is_authorized(self, user: str, signer: str) -> bool:
        user, signer = user.lower(), signer.lower()
        with self.lock:
            account = self.accounts.get(user)
            return account is not None and (signer == user or signer in account.agents)

    def set_klines(self, symbol: str, interval: str, rows: list[tuple[int, str, str, str, str, str]]) -> None:
        """rows: (open time ms, open, high, low, close, volume)."""
        with self.lock:
            self.klines[(symbol, interval)] = [
                [t, Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v)] for t, o, h, lo, c, v in sorted(rows)
            ]

    def set_mark_price(self, symbol: str, price: Decimal) -> list[Order]:
        """Move the mark price; resting limit orders it crosses fill at their limit (as maker)."""
        with self.lock:
            self.mark_prices[symbol] = price
            filled = []
            for order in sorted(self.orders.values(), key=lambda o: o.order_id):
                if order.symbol != symbol or order.status not in OPEN_STATUSES:
                    continue
                if (order.side == "BUY" and order.price >= price) or (order.side == "SELL" and order.price <= price):
                    self._fill(order, order.price, maker=True)
                    filled.append(order)
            return filled

    # --- lookups --------------------------------------------------------------------------

    def perp(self, symbol: str | None) -> SymbolSpec:
        spec = self.symbols.get(("perp", symbol or ""))
        if spec is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        return spec

    def account(self, user: str) -> Account:
        account = self.accounts.get(user.lower())
        if account is None:
            raise ApiError(400, -2015, "Invalid API-key, IP, or permissions for action.")
        return account

    def find_order(self, user: str, symbol: str, params: dict[str, str]) -> Order | None:
        order_id, client_id = params.get("orderId"), params.get("origClientOrderId")
        if not order_id and not client_id:
            raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        for order in self.orders.values():
            if order.user != user.lower() or order.symbol != symbol:
                continue
            if (order_id and str(order.order_id) == order_id) or (not order_id and order.client_order_id == client_id):
                return order
        return None

    # --- market data ----------------------------------------------------------------------

    def exchange_info(self, market: str) -> dict:
        rows = []
        for spec in self.symbols.values():
            if spec.market != market:
                continue
            row = {
                "symbol": spec.symbol,
                "status": spec.status,
                "baseAsset": spec.base,
                "quoteAsset": spec.quote,
                "pricePrecision": -spec.tick.normalize().as_tuple().exponent,
                "quantityPrecision": max(0, -spec.step.normalize().as_tuple().exponent),
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": str(spec.tick),
                        "maxPrice": "1000000",
                        "tickSize": str(spec.tick),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "stepSize": str(spec.step),
                        "maxQty": str(spec.max_qty),
                        "minQty": str(spec.min_qty),
                    },
                    {
                        "filterType": "MARKET_LOT_SIZE",
                        "stepSize": str(spec.step),
                        "maxQty": str(spec.max_qty / 10),
                        "minQty": str(spec.min_qty),
                    },
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {
                        "filterType": "PERCENT_PRICE",
                        "multiplierUp": "1.0500",
                        "multiplierDown": "0.9500",
                        "multiplierDecimal": 4,
                    },
                ],
                "orderTypes": [
                    "LIMIT",
                    "MARKET",
                    "STOP",
                    "STOP_MARKET",
                    "TAKE_PROFIT",
                    "TAKE_PROFIT_MARKET",
                    "TRAILING_STOP_MARKET",
                ],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX", "HIDDEN"],
            }
            if market == "perp":
                row["filters"].append({"filterType": "MIN_NOTIONAL", "notional": str(spec.min_notional)})
                row.update(
                    {
                        "pair": spec.symbol,
                        "contractType": "PERPETUAL",
                        "deliveryDate": 4133404800000,
                        "onboardDate": 1758178800000,
                        "maintMarginPercent": "2.5000",
                        "requiredMarginPercent": "5.0000",
                        "marginAsset": spec.quote,
                        "underlyingType": "COIN",
                        "underlyingSubType": [],
                        "settlePlan": 0,
                        "triggerProtect": "0.0500",
                        "liquidationFee": "0.015000",
                        "marketTakeBound": "0.05",
                    }
                )
            else:
                row["filters"].append(
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": str(spec.min_notional),
                        "applyMinToMarket": True,
                        "applyMaxToMarket": False,
                        "avgPriceMins": 5,
                    }
                )
                row.update({"ocoAllowed": False, "listingTime": 1756289680210})
            rows.append(row)
        assets = sorted(
            {s.quote for s in self.symbols.values()} | {s.base for s in self.symbols.values() if s.market == market}
        )
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in assets],
            "symbols": rows,
        }

    def kline_rows(self, symbol: str, interval: str) -> list[list]:
        rows = self.klines.get((symbol, interval))
        if rows is not None:
            return rows
        return self._synthetic_klines(symbol, interval)

    def _synthetic_klines(self, symbol: str, interval: str, count: int = 1500) -> list[list]:
        """Deterministic candles (a function of the open time) up to the still-forming one."""
        spec = self.perp(symbol)
        step_ms = INTERVAL_MS[interval]
        current = now_ms() // step_ms * step_ms
        base = self.mark_prices[symbol]
        rows = []
        for i in range(count - 1, -1, -1):
            open_ms = current - i * step_ms
            k = open_ms // step_ms
            o = base + Decimal((k * 7919) % 201 - 100) * spec.tick * 10
            c = base + Decimal(((k + 1) * 7919) % 201 - 100) * spec.tick * 10
            rows.append(
                [
                    open_ms,
                    o,
                    max(o, c) + spec.tick * 5,
                    min(o, c) - spec.tick * 5,
                    c,
                    Decimal((k * 31) % 1000 + 1) * spec.step * 10,
                ]
            )
        return rows

    def kline_json(self, symbol: str, interval: str, row: list) -> list:
        spec = self.perp(symbol)
        open_ms, o, h, lo, c, v = row
        quote_volume = v * c
        return [
            open_ms,
            fmt(o, spec.tick),
            fmt(h, spec.tick),
            fmt(lo, spec.tick),
            fmt(c, spec.tick),
            fmt(v, spec.step),
            open_ms + INTERVAL_MS[interval] - 1,
            fmt8(quote_volume),
            100,
            fmt(v / 2, spec.step),
            fmt8(quote_volume / 2),
            "0",
        ]

    def next_funding_time(self) -> int:
        return (now_ms() // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS

    def premium_index(self, symbol: str) -> dict:
        self.perp(symbol)
        return {
            "symbol": symbol,
            "markPrice": fmt8(self.mark_prices[symbol]),
            "indexPrice": fmt8(self.index_prices[symbol]),
            "estimatedSettlePrice": fmt8(self.index_prices[symbol]),
            "lastFundingRate": fmt8(self.funding_rates[symbol]),
            "interestRate": "0.00010000",
            "nextFundingTime": self.next_funding_time(),
            "time": now_ms(),
        }

    def funding_rows(self, symbol: str) -> list[tuple[int, Decimal]]:
        rows = self.funding_history.get(symbol)
        if rows is None:
            last = self.next_funding_time() - FUNDING_INTERVAL_MS
            rows = [
                (last - i * FUNDING_INTERVAL_MS, Decimal("0.0001") + Decimal(i % 5) * Decimal("0.00001"))
                for i in range(29, -1, -1)
            ]
        return sorted(rows)

    def set_account_brackets(self, user: str, symbol: str, rows: list[Bracket]) -> None:
        """Brackets the venue set for one account (Aster's, like Binance's, are per account)."""
        self.account_brackets.setdefault(user.lower(), {})[symbol] = rows

    def leverage_brackets(self, symbol: str | None, user: str | None = None) -> list[dict]:
        specs = [self.perp(symbol)] if symbol else [s for s in self.symbols.values() if s.market == "perp"]
        own = self.account_brackets.get((user or "").lower(), {})
        specs = [replace(spec, brackets=own.get(spec.symbol, spec.brackets)) for spec in specs]
        return [
            {
                "symbol": spec.symbol,
                "brackets": [
                    {
                        "bracket": i + 1,
                        "initialLeverage": b.leverage,
                        "notionalCap": int(b.cap),
                        "notionalFloor": int(b.floor),
                        "maintMarginRatio": float(b.mmr),
                        "cum": float(b.cum),
                    }
                    for i, b in enumerate(spec.brackets)
                ],
            }
            for spec in specs
        ]

    # --- trading --------------------------------------------------------------------------

    def place_order(self, user: str, params: dict[str, str]) -> Order:
        account = self.account(user)
        spec = self.perp(params.get("symbol"))
        if spec.status != "TRADING":
            raise ApiError(400, -4022, "Market status is not trading.")
        side = params.get("side", "")
        if side not in ("BUY", "SELL"):
            raise ApiError(400, -1117, "Invalid side.")
        order_type = params.get("type", "")
        if order_type not in ("LIMIT", "MARKET"):
            raise ApiError(400, -1116, "Invalid orderType.")
        quantity = _decimal_param(params, "quantity")
        if quantity <= 0:
            raise ApiError(400, -4003, "Quantity less than or equal to zero.")
        if quantity < spec.min_qty:
            raise ApiError(400, -4004, f"Quantity less than min quantity {spec.min_qty}.")
        if quantity > spec.max_qty:
            raise ApiError(400, -4005, "Quantity greater than max quantity.")
        if quantity % spec.step != 0:
            raise ApiError(400, -1111, "Precision is over the maximum defined for this asset.")
        price, tif = ZERO, params.get("timeInForce", "GTC")
        if order_type == "LIMIT":
            price = _decimal_param(params, "price")
            if "timeInForce" not in params:
                raise ApiError(
                    400, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."
                )
            if tif not in ("GTC", "IOC", "FOK", "GTX"):
                raise ApiError(400, -1115, "Invalid timeInForce.")
            if price <= 0:
                raise ApiError(400, -4001, "Price less than 0.")
            if price % spec.tick != 0:
                raise ApiError(400, -4014, "Price not increased by tick size.")
        elif "timeInForce" in params:
            raise ApiError(400, -1106, "Parameter 'timeInForce' sent when not required.")
        reduce_only = params.get("reduceOnly", "false").lower() == "true"
        mark = self.mark_prices[spec.symbol]
        reference = price if order_type == "LIMIT" else mark
        if not reduce_only and quantity * reference < spec.min_notional:
            raise ApiError(
                400,
                -4164,
                f"Order's notional must be no smaller than {spec.min_notional} (unless you choose reduce only).",
            )
        client_id = params.get("newClientOrderId") or "aster_" + secrets.token_hex(8)
        if not _CLIENT_ORDER_ID.match(client_id):
            raise ApiError(400, -4015, "Client order id is not valid.")
        if any(o.user == account.address and o.client_order_id == client_id for o in self.orders.values()):
            raise ApiError(400, -4116, "ClientOrderId is duplicated.")
        builder = params.get("builder")
        if builder and not any(b["builderAddress"].lower() == builder.lower() for b in account.builders):
            raise ApiError(400, -1000, "Builder is not approved by the user.")
        position = account.positions.get(spec.symbol, Position())
        signed = quantity if side == "BUY" else -quantity
        if reduce_only and (
            position.amount == 0 or (position.amount > 0) == (signed > 0) or quantity > abs(position.amount)
        ):
            raise ApiError(400, -2022, "ReduceOnly Order is rejected.")
        if not reduce_only:
            leverage = account.leverage.get(spec.symbol, min(DEFAULT_LEVERAGE, spec.max_leverage))
            if quantity * reference / leverage > self.available_balance(account, spec.quote):
                raise ApiError(400, -2019, "Margin is insufficient.")
        ts = now_ms()
        order = Order(
            self._next_order_id,
            client_id,
            account.address,
            spec.symbol,
            side,
            order_type,
            quantity,
            price,
            tif,
            reduce_only,
            "NEW",
            ts,
            ts,
            params=dict(params),
        )
        self._next_order_id += 1
        self.orders[order.order_id] = order
        marketable = order_type == "MARKET" or (side == "BUY" and price >= mark) or (side == "SELL" and price <= mark)
        if marketable:
            if tif == "GTX":
                order.status = "EXPIRED"
            else:
                self._fill(order, mark, maker=False)
        elif tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
        return order

    def cancel_order(self, user: str, params: dict[str, str]) -> Order:
        spec = self.perp(params.get("symbol"))
        order = self.find_order(user, spec.symbol, params)
        if order is None or order.status not in OPEN_STATUSES:
            raise ApiError(400, -2011, "Unknown order sent.")
        order.status, order.update_ms = "CANCELED", now_ms()
        return order

    def _fill(self, order: Order, price: Decimal, *, maker: bool) -> None:
        account = self.accounts[order.user]
        spec = self.perp(order.symbol)
        quantity = order.orig_qty - order.executed_qty
        signed = quantity if order.side == "BUY" else -quantity
        position = account.positions.setdefault(order.symbol, Position())
        old = position.amount
        realized = ZERO
        if old == 0 or (old > 0) == (signed > 0):
            position.entry = (abs(old) * position.entry + quantity * price) / (abs(old) + quantity)
        else:
            closing = min(abs(old), quantity)
            realized = (price - position.entry) * closing * (1 if old > 0 else -1)
            if quantity > abs(old):
                position.entry = price
            elif quantity == abs(old):
                position.entry = ZERO
        position.amount = old + signed
        position.update_ms = now_ms()
        fee = quantity * price * (MAKER_FEE if maker else TAKER_FEE)
        account.balances[spec.quote] = account.balances.get(spec.quote, ZERO) + realized - fee
        order.executed_qty += quantity
        order.cum_quote += quantity * price
        order.status, order.update_ms = "FILLED", now_ms()

    # --- account views --------------------------------------------------------------------

    def unrealized(self, account: Account, symbol: str) -> Decimal:
        position = account.positions.get(symbol)
        if not position or position.amount == 0:
            return ZERO
        return (self.mark_prices[symbol] - position.entry) * position.amount

    def _leverage(self, account: Account, spec: SymbolSpec) -> int:
        return account.leverage.get(spec.symbol, min(DEFAULT_LEVERAGE, spec.max_leverage))

    def available_balance(self, account: Account, asset: str) -> Decimal:
        wallet = account.balances.get(asset, ZERO)
        upnl = used = ZERO
        for symbol, position in account.positions.items():
            spec = self.perp(symbol)
            if spec.quote != asset or position.amount == 0:
                continue
            upnl += self.unrealized(account, symbol)
            used += abs(position.amount) * self.mark_prices[symbol] / self._leverage(account, spec)
        for order in self.orders.values():
            if order.user == account.address and order.status in OPEN_STATUSES and not order.reduce_only:
                spec = self.perp(order.symbol)
                if spec.quote == asset:
                    used += (order.orig_qty - order.executed_qty) * order.price / self._leverage(account, spec)
        return wallet + upnl - used

    def balance_json(self, user: str) -> list[dict]:
        account = self.account(user)
        rows = []
        for asset, wallet in sorted(account.balances.items()):
            upnl = sum((self.unrealized(account, s) for s in account.positions if self.perp(s).quote == asset), ZERO)
            available = self.available_balance(account, asset)
            rows.append(
                {
                    "accountAlias": "SgsR" + account.address[2:10],
                    "asset": asset,
                    "balance": fmt8(wallet),
                    "crossWalletBalance": fmt8(wallet),
                    "crossUnPnl": fmt8(upnl),
                    "availableBalance": fmt8(available),
                    "maxWithdrawAmount": fmt8(max(ZERO, min(available, wallet))),
                    "marginAvailable": True,
                    "updateTime": now_ms(),
                }
            )
        return rows

    def liquidation_price(self, account: Account, symbol: str) -> Decimal:
        """Binance's one-way cross formula, with the other positions' maintenance margin and PnL:
        LP = (WB - TMM_other + UPNL_other + cum - side*|amt|*EP) / (|amt|*MMR - side*|amt|)."""
        position = account.positions[symbol]
        spec = self.perp(symbol)
        size = abs(position.amount)
        side = 1 if position.amount > 0 else -1
        bracket = spec.bracket_for(size * self.mark_prices[symbol])
        other_mm = other_upnl = ZERO
        for other, pos in account.positions.items():
            if other == symbol or pos.amount == 0:
                continue
            other_spec = self.perp(other)
            notional = abs(pos.amount) * self.mark_prices[other]
            b = other_spec.bracket_for(notional)
            other_mm += notional * b.mmr - b.cum
            other_upnl += self.unrealized(account, other)
        wallet = account.balances.get(spec.quote, ZERO)
        denominator = size * bracket.mmr - side * size
        if denominator == 0:
            return ZERO
        price = (wallet - other_mm + other_upnl + bracket.cum - side * size * position.entry) / denominator
        return max(price, ZERO)

    def position_risk_json(self, user: str, symbol: str | None) -> list[dict]:
        account = self.account(user)
        specs = [self.perp(symbol)] if symbol else [s for s in self.symbols.values() if s.market == "perp"]
        rows = []
        for spec in specs:
            position = account.positions.get(spec.symbol, Position())
            mark = self.mark_prices[spec.symbol]
            notional = position.amount * mark
            bracket = spec.bracket_for(abs(notional))
            rows.append(
                {
                    "symbol": spec.symbol,
                    "positionAmt": fmt(position.amount, spec.step),
                    "entryPrice": fmt8(position.entry),
                    "markPrice": fmt8(mark),
                    "unRealizedProfit": fmt8(self.unrealized(account, spec.symbol)),
                    "liquidationPrice": fmt8(self.liquidation_price(account, spec.symbol)) if position.amount else "0",
                    "leverage": str(self._leverage(account, spec)),
                    "maxNotionalValue": str(int(bracket.cap)),
                    "marginType": "cross",
                    "isolatedMargin": "0.00000000",
                    "isAutoAddMargin": "false",
                    "positionSide": "BOTH",
                    "notional": fmt8(notional),
                    "isolatedWallet": "0",
                    "updateTime": position.update_ms,
                }
            )
        return rows


def _decimal_param(params: dict[str, str], name: str) -> Decimal:
    raw = params.get(name)
    if raw in (None, ""):
        raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    try:
        value = Decimal(raw)
    except ArithmeticError as exc:
        raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.") from exc
    if not value.is_finite():
        raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value
