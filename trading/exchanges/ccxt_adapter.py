"""The exchange adapter for any CCXT exchange, with Aster (``ccxt.aster``, v3 API) first-class.

What it guarantees on top of CCXT (see ``base.ExchangeAdapter`` for the contract):

* **Decimal everywhere.** CCXT hands out floats; every number is converted with ``Decimal(str(x))``
  (Python's shortest round-trip repr, so "0.001" stays 0.001) and never used in float arithmetic.
* **Typed errors.** CCXT's exception tree is mapped onto ``base``'s small set (see ``_translate``).
  A 200 answer whose body is not valid JSON is an error (``ExchangeUnavailable``): CCXT alone
  would hand the raw text to its parsers and return empty results.
* **Retries only where safe.** Reads and cancels are retried with exponential backoff (and jitter)
  on ``ExchangeUnavailable``; a 429 is never retried here (``RateLimited.retry_after`` says when).
  ``create_order`` is never retried: when its outcome is unknown (timeout, 5xx, broken answer),
  the order is looked up by its client order id, returned if found, else ``OrderOutcomeUnknown``.
* **Pre-checks.** An order is checked against the market's lot size, tick size and minimum
  notional (``Market.check_order``) before any request.
* **Markets cached per process** (keyed by exchange id and API base URLs) for ``markets_ttl_s``.
  Aster publishes maximum leverage only in its signed leverage brackets, which are per account, so
  ``Market.max_leverage`` is filled for Aster when the adapter has credentials (None otherwise),
  from that account's brackets, cached per account beside the shared public markets.
* **No builder fee.** ``options['builderFee'] = False`` always (CCXT's default adds a 0.1 %
  builder fee to every Aster perpetual order and approves CCXT's builder address).
* **Aster credentials.** An agent ("API wallet") key acting for a main wallet (recommended: it can
  trade, not withdraw) or a main wallet key. For an agent key CCXT is told the main wallet through
  ``options['cachedWalletAddress']`` (sent as ``user``), the agent through ``options['signerAddress']``
  (sent as ``signer``), and ``options['privateKeyHashForCachedWalletAddress']`` (keccak of the key,
  as CCXT computes it) so that CCXT keeps the cached wallet instead of deriving it from the key.

An adapter serialises its own calls (one lock), so it may be shared between threads, but each
call waits for the previous one: give each worker its own adapter for parallelism.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import ccxt
import requests
import structlog
import urllib3

from trading.exchanges.base import (
    TIMEFRAME_SECONDS,
    AuthenticationError,
    Balance,
    Candle,
    ConnectionReport,
    ExchangeError,
    ExchangeUnavailable,
    FundingRate,
    InsufficientFunds,
    InvalidOrder,
    LeverageTier,
    Market,
    MarketType,
    Order,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PositionSide,
    RateLimited,
    TimeInForce,
    UnknownExchange,
    UnknownSymbol,
)
from trading.exchanges.credentials import CredentialsInvalid, ExchangeCredentials, address_of, credentials_parse

log = structlog.get_logger(__name__)

T = TypeVar("T")

ASTER = "aster"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Aster follows Binance futures: 1-36 characters of [.A-Z:/a-z0-9_-]
_ASTER_CLIENT_ORDER_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_VENUE_STATUS = {  # Binance-family raw statuses (more precise than CCXT's unified ones)
    "NEW": OrderStatus.OPEN,
    "PARTIALLY_FILLED": OrderStatus.OPEN,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}
_CCXT_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    "expired": OrderStatus.EXPIRED,
}


# --- the process-level markets cache ------------------------------------------------------


@dataclass
class _MarketsEntry:
    loaded_at: float  # time.monotonic()
    raw: list[dict]  # CCXT's market structures, to seed other CCXT instances
    currencies: dict | None
    markets: dict[str, Market]  # public: the same for every account
    # Aster's leverage brackets are a signed, per-account answer: the markets with one account's
    # max_leverage filled in, keyed by ``CcxtAdapter._account_key`` (a hash, never a credential).
    account_markets: dict[str, dict[str, Market]] = field(default_factory=dict)


_MARKETS: dict[tuple[str, str], _MarketsEntry] = {}
_MARKETS_LOCK = threading.Lock()


def clear_markets_cache() -> None:
    with _MARKETS_LOCK:
        _MARKETS.clear()


# --- CCXT with strict JSON ----------------------------------------------------------------

_STRICT_CLASSES: dict[str, type] = {}


def _strict_exchange_class(exchange_id: str) -> type:
    """A subclass of CCXT's exchange class that refuses a 2xx answer whose body is not JSON."""
    cls = _STRICT_CLASSES.get(exchange_id)
    if cls is None:
        base = getattr(ccxt, exchange_id)

        def handle_errors(self, code, reason, url, method, headers, body, response, request_headers, request_body):
            result = base.handle_errors(
                self, code, reason, url, method, headers, body, response, request_headers, request_body
            )
            if response is None and isinstance(code, int) and 200 <= code < 300 and _malformed_json(body, headers):
                raise ccxt.BadResponse(
                    f"{self.id} {method} {_strip_query(url)} answered {code} with a body that is not valid JSON"
                )
            return result

        cls = type(f"Strict{base.__name__}", (base,), {"handle_errors": handle_errors})
        _STRICT_CLASSES[exchange_id] = cls
    return cls


def _malformed_json(body: Any, headers: Any) -> bool:
    if not isinstance(body, str) or not body.strip():
        return False
    content_type = str((headers or {}).get("Content-Type", "")) if hasattr(headers, "get") else ""
    text = body.strip()
    if not (text[0] in "{[" or "json" in content_type):
        return False  # a plain-text answer some exchanges give on purpose
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


# --- the adapter --------------------------------------------------------------------------


class CcxtAdapter:
    """``ExchangeAdapter`` over a CCXT exchange. ``credentials``: an ``ExchangeCredentials`` (see
    ``trading.exchanges.credentials``) or a mapping with the same fields (``kind`` optional:
    inferred from which fields are present), or None for public data only."""

    def __init__(
        self,
        exchange_id: str,
        credentials: ExchangeCredentials | Mapping[str, str] | None = None,
        *,
        urls: Mapping[str, Any] | None = None,
        timeout_ms: int = 10_000,
        rate_limit_ms: int | None = None,
        max_attempts: int = 3,
        backoff_s: float = 0.25,
        backoff_max_s: float = 4.0,
        markets_ttl_s: float = 900.0,
        market_type: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if exchange_id not in ccxt.exchanges:
            raise UnknownExchange(f"CCXT does not know the exchange {exchange_id!r}.")
        self.exchange_id = exchange_id
        self._aster = exchange_id == ASTER
        self._max_attempts = max(1, max_attempts)
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._markets_ttl_s = markets_ttl_s
        self._lock = threading.RLock()
        self._entry: _MarketsEntry | None = None

        ccxt_options: dict[str, Any] = dict(options or {})
        if self._aster:
            ccxt_options.setdefault("defaultType", market_type or "swap")  # Aster perpetuals first
            # we pass a symbol when we can; without one the weight is higher, which we accept
            ccxt_options["fetchOpenOrders"] = {**ccxt_options.get("fetchOpenOrders", {}), "warnIfNoSymbol": False}
        elif market_type:
            ccxt_options.setdefault("defaultType", market_type)
        ccxt_options["builderFee"] = False  # never: see the module docstring
        exchange = _strict_exchange_class(exchange_id)(
            {
                "enableRateLimit": True,
                "timeout": timeout_ms,
                "options": ccxt_options,
            }
        )
        if rate_limit_ms is not None:
            exchange.rateLimit = rate_limit_ms
        if urls:
            _deep_update(exchange.urls.setdefault("api", {}), urls)
        self._exchange = exchange
        self._name = str(exchange.name or exchange_id)
        self._credentials = _coerce_credentials(credentials)
        self._apply_credentials()

    # --- identity ---------------------------------------------------------------------------

    @property
    def credential_kind(self) -> str | None:
        return self._credentials.kind if self._credentials else None

    @property
    def account_address(self) -> str | None:
        """The wallet whose funds are traded (the main wallet for an agent key); not a secret."""
        return self._credentials.account_address() if self._credentials else None

    @property
    def ccxt_exchange(self) -> ccxt.Exchange:
        """The underlying CCXT instance (for tests and diagnostics; callers use the protocol)."""
        return self._exchange

    def close(self) -> None:
        session = getattr(self._exchange, "session", None)
        if session is not None:
            session.close()

    def _apply_credentials(self) -> None:
        credentials, exchange = self._credentials, self._exchange
        if credentials is None:
            return
        if credentials.private_key:
            try:
                signer = address_of(credentials.private_key)
            except (ValueError, TypeError) as exc:
                raise AuthenticationError("The private key is not a valid secp256k1 key.") from exc
            exchange.privateKey = credentials.private_key
            exchange.walletAddress = credentials.account_address()
            if credentials.kind == "agent_key":
                if not credentials.wallet_address:
                    raise AuthenticationError("An agent key needs the address of the main wallet it trades for.")
                exchange.options["signerAddress"] = signer
                exchange.options["cachedWalletAddress"] = credentials.wallet_address
                exchange.options["privateKeyHashForCachedWalletAddress"] = exchange.hash(
                    exchange.encode(exchange.privateKey), "keccak", "hex"
                )
        if credentials.api_key:
            exchange.apiKey = credentials.api_key
            exchange.secret = credentials.secret or ""
            if credentials.password:
                exchange.password = credentials.password

    # --- calling CCXT -----------------------------------------------------------------------

    def _request(self, call: Callable[[], T], *, retry: bool = True, placing: bool = False) -> T:
        """Run one CCXT call; retry ``ExchangeUnavailable`` with exponential backoff when ``retry``."""
        attempts = self._max_attempts if retry else 1
        delay = self._backoff_s
        for attempt in range(1, attempts + 1):
            with self._lock:
                try:
                    return call()
                except ccxt.BaseError as exc:
                    error, cause = self._translate(exc, placing=placing), exc
            if isinstance(error, ExchangeUnavailable) and attempt < attempts:
                log.warning("exchange.retry", exchange=self.exchange_id, attempt=attempt, error=str(error))
                time.sleep(min(delay, self._backoff_max_s) * random.uniform(1.0, 1.25))
                delay *= 2
                continue
            raise error from cause
        raise AssertionError("unreachable")

    def _translate(self, exc: ccxt.BaseError, *, placing: bool = False) -> ExchangeError:
        message = self._message(exc)
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return RateLimited(message, retry_after=self._retry_after())
        if isinstance(exc, ccxt.InvalidNonce):
            return ExchangeUnavailable(f"{message} (the exchange refused the request time; check this server's clock)")
        if isinstance(exc, ccxt.NetworkError | ccxt.BadResponse):  # timeouts, 5xx, broken answers
            return ExchangeUnavailable(message)
        if isinstance(exc, ccxt.AuthenticationError):  # includes PermissionDenied, AccountSuspended
            return AuthenticationError(message)
        if isinstance(exc, ccxt.InsufficientFunds):
            return InsufficientFunds(message)
        if isinstance(exc, ccxt.BadSymbol):
            return UnknownSymbol(message)
        if isinstance(exc, ccxt.OrderNotFound):
            return OrderNotFound(message)
        if isinstance(exc, ccxt.InvalidOrder):
            return InvalidOrder(message)
        if placing and isinstance(exc, ccxt.BadRequest | ccxt.ArgumentsRequired | ccxt.OperationRejected):
            return InvalidOrder(message)
        if isinstance(exc, ccxt.NotSupported):
            return ExchangeError(f"{self._name} does not support this: {message}")
        if isinstance(exc, ccxt.OperationFailed):
            return ExchangeUnavailable(message)
        return ExchangeError(message)

    def _message(self, exc: ccxt.BaseError) -> str:
        text = str(exc)
        match = re.search(r"\{.*\}", text, re.S)
        if match:
            try:
                data = json.loads(match.group(0))
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("msg"):
                code = f" (code {data['code']})" if data.get("code") is not None else ""
                return f"{self._name}: {data['msg']}{code}"
        text = re.sub(r"<[^>]+>", " ", _strip_query(text))
        text = re.sub(r"\s+", " ", text).strip()
        return f"{self._name}: {text[:300]}"

    def _retry_after(self) -> float | None:
        headers = getattr(self._exchange, "last_response_headers", None) or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None

    # --- markets ----------------------------------------------------------------------------

    def _cache_key(self) -> tuple[str, str]:
        return self.exchange_id, json.dumps(self._exchange.urls.get("api"), sort_keys=True, default=str)

    def load_markets(self, *, reload: bool = False) -> dict[str, Market]:
        key = self._cache_key()
        with _MARKETS_LOCK:
            entry = _MARKETS.get(key)
        if reload or entry is None or time.monotonic() - entry.loaded_at > self._markets_ttl_s:

            def fetch() -> tuple[list[dict], dict | None]:
                self._exchange.load_markets(reload=True)
                return list(self._exchange.markets.values()), self._exchange.currencies

            raw, currencies = self._request(fetch)
            entry = _MarketsEntry(time.monotonic(), raw, currencies, self._build_markets(raw))
            with _MARKETS_LOCK:
                _MARKETS[key] = entry
        elif self._entry is not entry:
            with self._lock:
                self._exchange.set_markets(entry.raw, entry.currencies)
        self._entry = entry
        if self._aster and self._credentials and self._account_key() not in entry.account_markets:
            self._load_max_leverage(entry)
        return dict(self._markets_of(entry))

    def _markets(self) -> dict[str, Market]:
        entry = self._entry
        if entry is None or time.monotonic() - entry.loaded_at > self._markets_ttl_s:
            return self.load_markets()
        return self._markets_of(entry)

    def _markets_of(self, entry: _MarketsEntry) -> dict[str, Market]:
        """The entry's markets as this adapter's account sees them."""
        if not self._credentials:
            return entry.markets
        return entry.account_markets.get(self._account_key(), entry.markets)

    def _account_key(self) -> str:
        """Which account's brackets apply: the traded wallet (an agent key trades its main
        wallet's account), else the API key; hashed, so the cache holds no credential."""
        credentials = self._credentials
        identity = (credentials.account_address() or credentials.api_key or "") if credentials else ""
        return hashlib.sha256(identity.encode()).hexdigest()

    def market(self, symbol: str) -> Market:
        market = self._markets().get(symbol)
        if market is None:
            raise UnknownSymbol(f"{self._name} does not list the symbol {symbol!r}.")
        return market

    def _build_markets(self, raw: list[dict]) -> dict[str, Market]:
        markets: dict[str, Market] = {}
        for m in raw:
            if m.get("spot"):
                market_type = MarketType.SPOT
            elif m.get("swap"):
                market_type = MarketType.PERPETUAL
            else:
                continue  # dated futures and options are outside the protocol
            precision, limits = m.get("precision") or {}, m.get("limits") or {}
            tick, lot = self._step(precision.get("price")), self._step(precision.get("amount"))
            if tick is None or lot is None:
                log.info(
                    "exchange.market_skipped",
                    exchange=self.exchange_id,
                    symbol=m.get("symbol"),
                    reason="no price or amount precision",
                )
                continue
            max_leverage = _dec((limits.get("leverage") or {}).get("max"))
            markets[m["symbol"]] = Market(
                symbol=m["symbol"],
                exchange_symbol=str(m["id"]),
                market_type=market_type,
                base=m["base"],
                quote=m["quote"],
                settle=m.get("settle"),
                tick_size=tick,
                lot_size=lot,
                min_quantity=_dec((limits.get("amount") or {}).get("min")) or lot,
                min_notional=_dec((limits.get("cost") or {}).get("min")),
                max_leverage=int(max_leverage) if max_leverage else None,
                active=m.get("active") is not False,
            )
        return markets

    def _step(self, value: Any) -> Decimal | None:
        number = _dec(value)
        if number is None or number <= 0:
            return None
        mode = self._exchange.precisionMode
        if mode == ccxt.TICK_SIZE:
            return number
        if mode == ccxt.DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(number))
        return None  # significant digits: no fixed step

    def _load_max_leverage(self, entry: _MarketsEntry) -> None:
        """Aster publishes leverage only in the (signed) leverage brackets."""
        try:
            rows = self._request(lambda: self._exchange.fapiPrivateGetV3LeverageBracket({}))
        except (ExchangeUnavailable, RateLimited) as exc:
            log.warning("exchange.leverage_brackets_unavailable", exchange=self.exchange_id, error=str(exc))
            return  # max_leverage stays None; tried again on the next load
        by_id: dict[str, int] = {}
        for row in rows if isinstance(rows, list) else [rows]:
            leverages = [_dec(b.get("initialLeverage")) for b in row.get("brackets") or []]
            leverages = [v for v in leverages if v is not None]
            if leverages:
                by_id[str(row.get("symbol"))] = int(max(leverages))
        entry.account_markets[self._account_key()] = {
            symbol: replace(m, max_leverage=by_id.get(m.exchange_symbol, m.max_leverage))
            if m.market_type is MarketType.PERPETUAL
            else m
            for symbol, m in entry.markets.items()
        }

    def _perpetual(self, symbol: str) -> Market:
        market = self.market(symbol)
        if market.market_type is not MarketType.PERPETUAL:
            raise InvalidOrder(f"{symbol} is not a perpetual market.")
        return market

    # --- market data ------------------------------------------------------------------------

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Candle]:
        self.market(symbol)
        if timeframe not in (self._exchange.timeframes or {}):
            raise ExchangeError(f"{self._name} does not offer the timeframe {timeframe!r}.")
        seconds = TIMEFRAME_SECONDS.get(timeframe) or int(self._exchange.parse_timeframe(timeframe))
        since_ms = _ms(since) if since is not None else None
        rows = self._request(lambda: self._exchange.fetch_ohlcv(symbol, timeframe, since_ms, limit))
        now_ms = int(time.time() * 1000)
        candles = []
        for row in rows:
            values = [_dec(v) for v in row[1:6]]
            if row[0] is None or any(v is None for v in values):
                raise ExchangeUnavailable(f"{self._name} sent an incomplete candle for {symbol}.")
            candles.append(Candle(_dt(row[0]), *values, is_closed=row[0] + seconds * 1000 <= now_ms))
        return candles

    def fetch_funding_rate(self, symbol: str) -> FundingRate:
        self._perpetual(symbol)
        raw = self._request(lambda: self._exchange.fetch_funding_rate(symbol))
        rate = _dec(raw.get("fundingRate"))
        if rate is None:
            raise ExchangeUnavailable(f"{self._name} sent no funding rate for {symbol}.")
        return FundingRate(
            symbol=symbol,
            rate=rate,
            funding_time=_dt(raw.get("nextFundingTimestamp") or raw.get("fundingTimestamp")),
            mark_price=_dec(raw.get("markPrice")),
            index_price=_dec(raw.get("indexPrice")),
        )

    def fetch_funding_rate_history(
        self, symbol: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[FundingRate]:
        self._perpetual(symbol)
        since_ms = _ms(since) if since is not None else None
        rows = self._request(lambda: self._exchange.fetch_funding_rate_history(symbol, since_ms, limit))
        out = []
        for row in rows:
            rate = _dec(row.get("fundingRate"))
            if rate is None or row.get("timestamp") is None:
                raise ExchangeUnavailable(f"{self._name} sent an incomplete funding rate for {symbol}.")
            # Binance-style venues also send the mark price each event was charged at; CCXT keeps
            # it only in the raw row.
            info = row.get("info") if isinstance(row.get("info"), dict) else {}
            mark = _dec(info.get("markPrice"))
            out.append(
                FundingRate(
                    symbol=symbol,
                    rate=rate,
                    funding_time=_dt(row["timestamp"]),
                    mark_price=mark if mark is not None and mark > 0 else None,
                )
            )
        return sorted(out, key=lambda f: f.funding_time)

    def fetch_leverage_tiers(self, symbol: str) -> list[LeverageTier]:
        market = self._perpetual(symbol)
        exchange = self._exchange
        if self._aster:
            rows = self._request(lambda: exchange.fapiPrivateGetV3LeverageBracket({"symbol": market.exchange_symbol}))
            rows = rows if isinstance(rows, list) else [rows]
            row = next((r for r in rows if str(r.get("symbol")) == market.exchange_symbol), None)
            if row is None:
                raise UnknownSymbol(f"{self._name} has no leverage brackets for {symbol}.")
            tiers = [
                LeverageTier(
                    notional_floor=_required(b.get("notionalFloor"), "notionalFloor"),
                    notional_cap=_required(b.get("notionalCap"), "notionalCap"),
                    max_leverage=int(_required(b.get("initialLeverage"), "initialLeverage")),
                    maintenance_margin_rate=_required(b.get("maintMarginRatio"), "maintMarginRatio"),
                )
                for b in row.get("brackets") or []
            ]
        elif exchange.has.get("fetchLeverageTiers") or exchange.has.get("fetchMarketLeverageTiers") is True:
            rows = self._request(lambda: exchange.fetch_market_leverage_tiers(symbol))
            tiers = [
                LeverageTier(
                    notional_floor=_required(t.get("minNotional"), "minNotional"),
                    notional_cap=_required(t.get("maxNotional"), "maxNotional"),
                    max_leverage=int(_required(t.get("maxLeverage"), "maxLeverage")),
                    maintenance_margin_rate=_required(t.get("maintenanceMarginRate"), "maintenanceMarginRate"),
                )
                for t in rows
            ]
        else:
            raise ExchangeError(f"{self._name} does not publish leverage tiers.")
        return sorted(tiers, key=lambda t: t.notional_floor)

    # --- account ----------------------------------------------------------------------------

    def fetch_balance(self) -> list[Balance]:
        self._markets()
        raw = self._request(lambda: self._exchange.fetch_balance())
        totals, frees, useds = raw.get("total") or {}, raw.get("free") or {}, raw.get("used") or {}
        balances = []
        for asset in sorted(set(totals) | set(frees)):
            total, free, used = _dec(totals.get(asset)), _dec(frees.get(asset)), _dec(useds.get(asset))
            if total is None and free is None:
                continue
            if total is None:
                total = free + (used or 0)
            if free is None:
                free = total - (used or 0)
            if used is None:
                used = total - free
            if total or free or used:
                balances.append(Balance(asset=asset, total=total, free=free, used=used))
        return balances

    def fetch_positions(self, symbols: list[str] | None = None) -> list[Position]:
        for symbol in symbols or []:
            self._perpetual(symbol)
        self._markets()
        rows = self._request(lambda: self._exchange.fetch_positions(list(symbols) if symbols else None))
        positions = []
        for p in rows:
            contracts = _dec(p.get("contracts"))
            side = p.get("side")
            if not contracts or side not in ("long", "short"):
                continue
            leverage = _dec(p.get("leverage"))
            margin = p.get("collateral") if p.get("marginMode") == "isolated" else p.get("initialMargin")
            positions.append(
                Position(
                    symbol=p["symbol"],
                    side=PositionSide(side),
                    quantity=abs(contracts) * (_dec(p.get("contractSize")) or Decimal(1)),
                    entry_price=_required(p.get("entryPrice"), "entryPrice"),
                    mark_price=_dec(p.get("markPrice")),
                    leverage=int(leverage) if leverage else None,
                    unrealized_pnl=_dec(p.get("unrealizedPnl")) or Decimal(0),
                    liquidation_price=_dec(p.get("liquidationPrice")),
                    margin=_dec(margin),
                )
            )
        return positions

    def check_connection(self) -> ConnectionReport:
        credentials = self._credentials
        if credentials is None:
            return ConnectionReport(
                ok=False, account=None, can_trade=False, can_withdraw=None, message="There are no credentials to test."
            )
        account = self.account_address or credentials.fingerprint()
        try:
            balances = self.fetch_balance()
        except AuthenticationError as exc:
            return ConnectionReport(ok=False, account=account, can_trade=False, can_withdraw=None, message=str(exc))
        can_withdraw: bool | None = None
        message = f"Connected to {self._name}."
        if self._aster and credentials.kind == "agent_key":
            can_withdraw = False  # an Aster API wallet (agent) can trade but cannot withdraw
            message = (
                f"Connected to {self._name} with an agent (API wallet) key trading for {account}; "
                "it cannot withdraw funds."
            )
        elif self._aster and credentials.kind == "main_key":
            can_withdraw = True
            message = (
                f"Connected to {self._name} with the main wallet key of {account}: it can also withdraw "
                "funds. An agent (API wallet) key is safer."
            )
        return ConnectionReport(
            ok=True, account=account, can_trade=True, can_withdraw=can_withdraw, balances=balances, message=message
        )

    # --- orders -----------------------------------------------------------------------------

    def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        if symbol is not None:
            self.market(symbol)
        else:
            self._markets()
        rows = self._request(lambda: self._exchange.fetch_open_orders(symbol))
        return [self._order(o) for o in rows]

    def fetch_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        return self._fetch_order(symbol, exchange_order_id, client_order_id, retry=True)

    def _fetch_order(
        self, symbol: str, exchange_order_id: str | None, client_order_id: str | None, *, retry: bool
    ) -> Order:
        self.market(symbol)
        if exchange_order_id:
            raw = self._request(lambda: self._exchange.fetch_order(exchange_order_id, symbol), retry=retry)
        elif client_order_id:
            raw = self._request(
                lambda: self._exchange.fetch_order(None, symbol, {"clientOrderId": client_order_id}), retry=retry
            )
        else:
            raise InvalidOrder("Give the exchange order id or the client order id of the order.")
        return self._order(raw)

    def cancel_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        self.market(symbol)
        if not exchange_order_id and not client_order_id:
            raise InvalidOrder("Give the exchange order id or the client order id of the order to cancel.")
        params = {} if exchange_order_id else {"clientOrderId": client_order_id}
        calls = 0

        def cancel() -> dict:
            nonlocal calls
            calls += 1
            return self._exchange.cancel_order(exchange_order_id, symbol, params)

        try:
            return self._order(self._request(cancel))
        except OrderNotFound:
            if calls <= 1:
                raise
            # a retried cancel: the first attempt may have canceled it already
            order = self.fetch_order(symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id)
            if order.status is OrderStatus.CANCELED:
                return order
            raise

    def create_order(self, request: OrderRequest) -> Order:
        market = self.market(request.symbol)
        price = request.price if request.order_type is OrderType.LIMIT else None
        if request.order_type is OrderType.LIMIT and price is None:
            raise InvalidOrder("A limit order needs a price.")
        market.check_order(quantity=request.quantity, price=price)
        if request.reduce_only and market.market_type is not MarketType.PERPETUAL:
            raise InvalidOrder("Reduce-only applies to perpetual markets only.")
        self._check_client_order_id(request.client_order_id)
        amount = _exact_float(request.quantity, "quantity")
        price_float = _exact_float(price, "price") if price is not None else None
        params = self._order_params(request)
        exchange = self._exchange
        with self._lock:  # one attempt only, whatever happens
            exchange.options["builderFee"] = False
            try:
                raw = exchange.create_order(
                    request.symbol, request.order_type.value, request.side.value, amount, price_float, params
                )
            except ccxt.BaseError as exc:
                failure: Exception = exc
                error = None if _outcome_unknown(exc) else self._translate(exc, placing=True)
            else:
                try:
                    return self._order(raw)
                except ExchangeUnavailable as unreadable:  # placed, but the answer is unusable
                    failure, error = unreadable, None
        if error is None:
            return self._recover(request, failure)
        raise error from failure

    def _order_params(self, request: OrderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": request.client_order_id}
        if request.order_type is OrderType.LIMIT:
            if request.time_in_force is TimeInForce.POST_ONLY and not self._aster:
                params["postOnly"] = True
            else:
                # Aster takes GTX itself; CCXT's unified postOnly would also be sent on as a raw param
                params["timeInForce"] = request.time_in_force.value
        if request.reduce_only:
            # CCXT's aster encodes params with str(): True would go out as "True"
            params["reduceOnly"] = "true" if self._aster else True
        return params

    def _check_client_order_id(self, client_order_id: str) -> None:
        if not client_order_id:
            raise InvalidOrder("An order needs a client order id (it is how a lost answer is recovered).")
        if self._aster and not _ASTER_CLIENT_ORDER_ID.match(client_order_id):
            raise InvalidOrder(
                f"The client order id {client_order_id!r} must be 1-36 characters of letters, digits and . : / _ -"
            )

    def _recover(self, request: OrderRequest, exc: Exception) -> Order:
        """The create request may have reached the book: look it up by client order id, never resubmit."""
        cid = request.client_order_id
        reason = self._message(exc) if isinstance(exc, ccxt.BaseError) else str(exc)
        log.warning(
            "exchange.order_outcome_unknown",
            exchange=self.exchange_id,
            symbol=request.symbol,
            client_order_id=cid,
            error=reason,
        )
        delay = self._backoff_s
        last: ExchangeError | None = None
        for _attempt in range(self._max_attempts):
            time.sleep(min(delay, self._backoff_max_s))
            delay *= 2
            try:
                order = self._fetch_order(request.symbol, None, cid, retry=False)
            except (OrderNotFound, ExchangeUnavailable) as lookup_error:
                last = lookup_error  # not there (yet), or the lookup failed: look again
                continue
            except ExchangeError as lookup_error:
                last = lookup_error
                break
            log.info(
                "exchange.order_recovered",
                exchange=self.exchange_id,
                client_order_id=cid,
                exchange_order_id=order.exchange_order_id,
            )
            return order
        found = "did not find it" if isinstance(last, OrderNotFound) else f"failed too ({last})"
        raise OrderOutcomeUnknown(
            f"The order {cid} may or may not be on {self._name}'s book: placing it failed ({reason}) and looking "
            f"it up by client order id {found}. Look it up again before placing it anew.",
            client_order_id=cid,
        ) from exc

    def _order(self, o: Mapping[str, Any]) -> Order:
        if not isinstance(o, Mapping) or not o.get("symbol"):
            raise ExchangeUnavailable(f"{self._name} sent an order without a symbol.")
        info = o.get("info") if isinstance(o.get("info"), Mapping) else {}
        status = _VENUE_STATUS.get(str(info.get("status") or "").upper()) or _CCXT_STATUS.get(o.get("status"))
        if status is None:
            raise ExchangeUnavailable(f"{self._name} sent an order with an unknown status {o.get('status')!r}.")
        try:
            side = OrderSide(o.get("side"))
        except ValueError as exc:
            raise ExchangeUnavailable(f"{self._name} sent an order with an unknown side {o.get('side')!r}.") from exc
        price = _dec(o.get("price")) or None  # market orders carry 0
        order_type = o.get("type")
        if order_type not in ("market", "limit"):
            order_type = "limit" if price else "market"
        if order_type == "market":
            price = None  # CCXT copies the average fill price into a market order's price
        fee = o.get("fee") or {}
        return Order(
            symbol=o["symbol"],
            side=side,
            order_type=OrderType(order_type),
            status=status,
            quantity=_required(o.get("amount"), "amount"),
            filled_quantity=_dec(o.get("filled")) or Decimal(0),
            client_order_id=o.get("clientOrderId"),
            exchange_order_id=str(o["id"]) if o.get("id") is not None else None,
            price=price,
            average_price=_dec(o.get("average")) or None,
            fee=_dec(fee.get("cost")) if isinstance(fee, Mapping) else None,
            fee_asset=fee.get("currency") if isinstance(fee, Mapping) else None,
            reduce_only=bool(o.get("reduceOnly")),
            created_at=_dt(o.get("timestamp")),
            updated_at=_dt(o.get("lastUpdateTimestamp")),
        )


# --- helpers ------------------------------------------------------------------------------


def _coerce_credentials(credentials: ExchangeCredentials | Mapping[str, str] | None) -> ExchangeCredentials | None:
    if credentials is None:
        return None
    if isinstance(credentials, ExchangeCredentials):
        return None if credentials.kind == "none" else credentials
    fields = {k: str(v) for k, v in credentials.items() if v is not None}
    kind = fields.pop("kind", None)
    if kind is None:
        if fields.get("private_key"):
            kind = "agent_key" if fields.get("wallet_address") else "main_key"
        elif fields.get("api_key"):
            kind = "api_key"
        else:
            return None
    try:
        parsed = credentials_parse(kind=kind, **fields)
    except (CredentialsInvalid, TypeError) as exc:
        raise AuthenticationError(str(exc)) from exc
    return None if parsed.kind == "none" else parsed


def _deep_update(target: dict, updates: Mapping[str, Any]) -> None:
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value


def _strip_query(text: str) -> str:
    """Drop query strings from URLs in a message: they carry the signature and the nonce."""
    return re.sub(r"((?:https?|wss?)://[^\s?]+)\?\S*", r"\1", text)


def _outcome_unknown(exc: ccxt.BaseError) -> bool:
    """True when a create request may have been processed although we got no usable answer."""
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection | ccxt.InvalidNonce):
        return False  # refused before processing
    if not isinstance(exc, ccxt.NetworkError | ccxt.BadResponse):
        return False  # the exchange answered with a definite error
    return not _never_sent(exc)


def _never_sent(exc: BaseException) -> bool:
    """The connection was never made, so the request cannot have been processed."""
    cause = exc.__cause__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(cause, requests.exceptions.ConnectionError):
        inner = cause.args[0] if cause.args else None
        reason = getattr(inner, "reason", inner)
        return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)
    return False


def _dec(value: Any) -> Decimal | None:
    """A number from CCXT (float, int, str) as a Decimal, through its string form; None stays None."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float) and value.is_integer():
        return Decimal(int(value))  # 5.0 -> 5, not Decimal("5.0")
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _required(value: Any, name: str) -> Decimal:
    result = _dec(value)
    if result is None:
        raise ExchangeUnavailable(f"The exchange's answer lacks {name}.")
    return result


def _exact_float(value: Decimal, name: str) -> float:
    """CCXT takes floats: refuse a value that a float cannot carry exactly."""
    number = float(value)
    if Decimal(str(number)) != value:
        raise InvalidOrder(f"The {name} {value} has more significant digits than can be sent.")
    return number


def _dt(ms: Any) -> datetime | None:
    if ms is None:
        return None
    return _EPOCH + timedelta(milliseconds=int(ms))


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("Use a timezone-aware datetime.")
    return (moment - _EPOCH) // timedelta(milliseconds=1)
