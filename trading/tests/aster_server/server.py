"""A local Aster DEX (v3 futures API + kline websocket) for tests: the real CCXT runs against it.

One aiohttp application on 127.0.0.1 (ephemeral port), served from a background thread:

* REST under ``/fapi/v3/...`` and ``/api/v3/...``: the endpoints CCXT 4.5.90's ``aster`` calls
  for markets, klines, funding, leverage brackets, orders, balances and positions;
* websockets at ``/fstream/stream`` (combined streams: ``{"stream", "data"}``) and
  ``/fstream/ws`` (raw events): ``SUBSCRIBE`` to ``<symbol>@kline_<interval>``.

Signed requests are verified for real (``signing``), every request is recorded, and faults are
injected through methods on the server object (not over HTTP)::

    server.fail_next(503)                      # next request answers 503
    server.rate_limit_next(retry_after=7)      # 429 with Retry-After
    server.stall_next(2.0, path=ORDER_PATH)    # accept the order, answer 2 s later
    server.malformed_next()                    # a truncated JSON body
    server.drop_websockets()                   # abort every websocket connection
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from .faults import Fault, FaultInjector
from .signing import NonceGuard, SignatureInvalid, recover_approve_builder_signer, recover_signer, split_signature
from .state import INTERVAL_MS, OPEN_STATUSES, ApiError, VenueState, fmt, now_ms

ORDER_PATH = "/fapi/v3/order"
WS_PATHS = {"/fstream/stream": True, "/stream": True, "/fstream/ws": False, "/ws": False}  # path -> combined


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]  # query and form body, merged
    raw: str  # the query string (GET) or body as sent
    headers: dict[str, str]
    at: float = field(default_factory=time.time)


@dataclass(eq=False)
class _WsConnection:
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    combined: bool
    streams: set[str] = field(default_factory=set)


Handler = Callable[[dict[str, str], str | None], object]


class AsterTestServer:
    def __init__(self, state: VenueState | None = None, *, nonce_window_s: float = 10.0) -> None:
        self.state = state or VenueState()
        self.nonces = NonceGuard(nonce_window_s)
        self.faults = FaultInjector()
        self.requests: list[RecordedRequest] = []
        self.ws_messages: list[dict] = []
        self.ws_connections_total = 0
        self.port: int = 0
        self._ws: set[_WsConnection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._routes: dict[tuple[str, str], tuple[Handler, bool]] = {
            ("GET", "/fapi/v3/ping"): (lambda p, u: {}, False),
            ("GET", "/fapi/v3/time"): (lambda p, u: {"serverTime": now_ms()}, False),
            ("GET", "/api/v3/time"): (lambda p, u: {"serverTime": now_ms()}, False),
            ("GET", "/fapi/v3/exchangeInfo"): (lambda p, u: self.state.exchange_info("perp"), False),
            ("GET", "/api/v3/exchangeInfo"): (lambda p, u: self.state.exchange_info("spot"), False),
            ("GET", "/fapi/v3/klines"): (self._klines, False),
            ("GET", "/fapi/v3/premiumIndex"): (self._premium_index, False),
            ("GET", "/fapi/v3/fundingRate"): (self._funding_rate, False),
            ("GET", "/fapi/v3/leverageBracket"): (
                lambda p, u: self.state.leverage_brackets(p.get("symbol"), user=u),
                True,
            ),
            ("POST", ORDER_PATH): (self._order_create, True),
            ("DELETE", ORDER_PATH): (self._order_cancel, True),
            ("GET", ORDER_PATH): (self._order_query, True),
            ("GET", "/fapi/v3/openOrder"): (self._open_order, True),
            ("GET", "/fapi/v3/openOrders"): (self._open_orders, True),
            ("DELETE", "/fapi/v3/allOpenOrders"): (self._cancel_all, True),
            ("GET", "/fapi/v3/balance"): (lambda p, u: self.state.balance_json(u), True),
            ("GET", "/fapi/v3/positionRisk"): (lambda p, u: self.state.position_risk_json(u, p.get("symbol")), True),
            ("POST", "/fapi/v3/leverage"): (self._set_leverage, True),
            ("POST", "/fapi/v3/listenKey"): (self._listen_key_new, True),
            ("PUT", "/fapi/v3/listenKey"): (lambda p, u: {}, True),
            ("DELETE", "/fapi/v3/listenKey"): (lambda p, u: {}, True),
            ("GET", "/fapi/v3/builder"): (lambda p, u: list(self.state.account(u).builders), True),
            ("POST", "/fapi/v3/approveBuilder"): (self._approve_builder, True),
        }

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> AsterTestServer:
        ready = threading.Event()
        errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._startup())
            except OSError as exc:  # binding the port failed: re-raised by start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="aster-test-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _startup(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if not self._loop or not self._thread:
            return

        async def shutdown() -> None:
            self._stopping.set()
            for connection in list(self._ws):
                await connection.ws.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> AsterTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ccxt_urls(self) -> dict[str, str]:
        """Values for ``exchange.urls['api']`` (REST)."""
        return {
            "fapiPublic": f"{self.base_url}/fapi",
            "fapiPrivate": f"{self.base_url}/fapi",
            "sapiPublic": f"{self.base_url}/api",
            "sapiPrivate": f"{self.base_url}/api",
        }

    def ccxt_ws_urls(self) -> dict[str, dict[str, str]]:
        """Values for ``exchange.urls['api']['ws']``. The path keeps "fstream" in it on purpose:
        ccxt.pro's aster tells swap from spot messages by looking for "fstream" in the URL."""
        ws = f"ws://127.0.0.1:{self.port}"
        return {
            "public": {"swap": f"{ws}/fstream/stream", "spot": f"{ws}/sstream/stream"},
            "private": {"swap": f"{ws}/fstream/ws", "spot": f"{ws}/sstream/ws"},
        }

    # --- fault injection --------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 503,
        *,
        count: int = 1,
        path: str | None = None,
        method: str | None = None,
        after_processing: bool = False,
    ) -> Fault:
        """Answer the next matching request(s) with an HTTP error page (before, or after, it took effect)."""
        return self.faults.arm(Fault("status", count, path, method, status=status, after_processing=after_processing))

    def rate_limit_next(
        self, retry_after: int = 5, *, count: int = 1, path: str | None = None, method: str | None = None
    ) -> Fault:
        return self.faults.arm(Fault("rate_limit", count, path, method, status=429, retry_after=retry_after))

    def stall_next(
        self, seconds: float, *, count: int = 1, path: str | None = ORDER_PATH, method: str | None = "POST"
    ) -> Fault:
        """Process the request (the order IS placed), then wait ``seconds`` before answering."""
        return self.faults.arm(Fault("stall", count, path, method, seconds=seconds))

    def malformed_next(self, *, count: int = 1, path: str | None = None, method: str | None = None) -> Fault:
        """Process the request, then answer 200 with a truncated JSON body."""
        return self.faults.arm(Fault("malformed", count, path, method))

    def drop_websockets(self) -> int:
        """Abort every websocket connection (TCP reset, no close frame). Returns how many."""

        async def drop() -> int:
            connections = list(self._ws)
            for connection in connections:
                if connection.transport is not None:
                    connection.transport.abort()
                else:
                    await connection.ws.close()
                self._ws.discard(connection)
            return len(connections)

        return asyncio.run_coroutine_threadsafe(drop(), self._loop).result(5)

    # --- inspection -----------------------------------------------------------------------

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in list(self.requests) if r.path == path and (method is None or r.method == method)]

    @property
    def ws_open_connections(self) -> int:
        return len(self._ws)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    def push_kline(self, symbol: str, interval: str) -> int:
        """Send the current (last) kline of ``symbol``/``interval`` to its subscribers; returns how many."""
        stream = f"{symbol.lower()}@kline_{interval}"

        async def push() -> int:
            sent = 0
            for connection in list(self._ws):
                if stream in connection.streams:
                    await self._send_kline(connection, stream)
                    sent += 1
            return sent

        return asyncio.run_coroutine_threadsafe(push(), self._loop).result(5)

    # --- HTTP -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path in WS_PATHS and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        raw_query = request.raw_path.partition("?")[2]
        body = (await request.read()).decode("utf-8", "replace")
        raw = raw_query if request.method == "GET" else body
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        self.requests.append(RecordedRequest(request.method, request.path, params, raw, dict(request.headers)))

        fault = self.faults.take(request.method, request.path)
        if fault and fault.kind == "rate_limit":
            return web.json_response(
                {
                    "code": -1003,
                    "msg": "Too many requests; current limit is 2400 requests per minute. Please use "
                    "the websocket for live updates to avoid polling the API.",
                },
                status=429,
                headers={"Retry-After": str(fault.retry_after)},
            )
        if fault and fault.kind == "status" and not fault.after_processing:
            return _error_page(fault.status)

        route = self._routes.get((request.method, request.path))
        if route is None:
            return _error_page(404)
        handler, signed = route
        try:
            user = self._authenticate(request.path, raw, params) if signed else None
            with self.state.lock:
                payload, status = handler(params, user), 200
        except ApiError as error:
            payload, status = {"code": error.code, "msg": error.msg}, error.status

        if fault and fault.kind == "status":
            return _error_page(fault.status)
        if fault and fault.kind == "stall":
            try:
                await asyncio.wait_for(self._stopping.wait(), fault.seconds)
            except TimeoutError:
                pass
        if fault and fault.kind == "malformed":
            text = json.dumps(payload)
            return web.Response(status=200, text=text[: max(1, len(text) // 2)], content_type="application/json")
        return web.json_response(payload, status=status)

    def _authenticate(self, path: str, raw: str, params: dict[str, str]) -> str:
        builder_approval = path.endswith("/approveBuilder")
        required = ("nonce", "user", "signature") if builder_approval else ("nonce", "user", "signer", "signature")
        for name in required:
            if not params.get(name):
                raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        try:
            nonce = int(params["nonce"])
        except ValueError as exc:
            raise ApiError(
                400, -1102, "Mandatory parameter 'nonce' was not sent, was empty/null, or malformed."
            ) from exc
        stale = self.nonces.check_fresh(nonce)
        if stale:
            raise ApiError(400, -1021, stale)
        user = params["user"].lower()
        signer = user if builder_approval else params["signer"].lower()
        signed, signature = split_signature(raw)
        try:
            if builder_approval:
                recovered = recover_approve_builder_signer(params, signature or "")
            else:
                recovered = recover_signer(signed, signature or "")
        except SignatureInvalid as exc:
            raise ApiError(400, -1022, "Signature for this request is not valid.") from exc
        if recovered != signer:
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        if not self.state.is_authorized(user, signer):
            raise ApiError(
                401,
                -2015,
                f"Invalid API-key, IP, or permissions for action: signer {signer} is "
                f"neither the user nor an agent the user approved.",
            )
        if not self.nonces.use(user, signer, nonce):
            raise ApiError(400, -1021, "Nonce has already been used.")
        return user

    # --- endpoints --------------------------------------------------------------------------

    def _klines(self, params: dict[str, str], user: str | None) -> list:
        symbol = params.get("symbol")
        self.state.perp(symbol)
        interval = params.get("interval", "")
        if interval not in INTERVAL_MS:
            raise ApiError(400, -1120, "Invalid interval.")
        limit = _int_param(params, "limit", 500)
        if not 1 <= limit <= 1500:
            raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        rows = self.state.kline_rows(symbol, interval)
        start, end = _int_param(params, "startTime", None), _int_param(params, "endTime", None)
        if start is not None:
            rows = [r for r in rows if r[0] >= start]
        if end is not None:
            rows = [r for r in rows if r[0] <= end]
        rows = rows[:limit] if start is not None else rows[-limit:]
        return [self.state.kline_json(symbol, interval, r) for r in rows]

    def _premium_index(self, params: dict[str, str], user: str | None) -> object:
        if params.get("symbol"):
            return self.state.premium_index(params["symbol"])
        return [self.state.premium_index(s.symbol) for s in self.state.symbols.values() if s.market == "perp"]

    def _funding_rate(self, params: dict[str, str], user: str | None) -> list:
        limit = _int_param(params, "limit", 100)
        if not 1 <= limit <= 1000:
            raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        symbols = [params["symbol"]] if params.get("symbol") else sorted(self.state.funding_rates)
        rows = []
        for symbol in symbols:
            self.state.perp(symbol)
            rows += [(t, symbol, rate) for t, rate in self.state.funding_rows(symbol)]
        rows.sort()
        start, end = _int_param(params, "startTime", None), _int_param(params, "endTime", None)
        if start is not None:
            rows = [r for r in rows if r[0] >= start]
        if end is not None:
            rows = [r for r in rows if r[0] <= end]
        rows = rows[:limit] if start is not None else rows[-limit:]
        return [
            {
                "symbol": s,
                "fundingTime": t,
                "fundingRate": f"{rate:.8f}",
                "markPrice": f"{self.state.mark_prices[s]:.8f}",
            }
            for t, s, rate in rows
        ]

    def _order_json(self, order) -> dict:
        return order.to_json(self.state.perp(order.symbol))

    def _order_create(self, params: dict[str, str], user: str) -> dict:
        return self._order_json(self.state.place_order(user, params))

    def _order_cancel(self, params: dict[str, str], user: str) -> dict:
        return self._order_json(self.state.cancel_order(user, params))

    def _order_query(self, params: dict[str, str], user: str) -> dict:
        spec = self.state.perp(params.get("symbol"))
        order = self.state.find_order(user, spec.symbol, params)
        if order is None:
            raise ApiError(400, -2013, "Order does not exist.")
        return self._order_json(order)

    def _open_order(self, params: dict[str, str], user: str) -> dict:
        spec = self.state.perp(params.get("symbol"))
        order = self.state.find_order(user, spec.symbol, params)
        if order is None or order.status not in OPEN_STATUSES:
            raise ApiError(400, -2013, "Order does not exist.")
        return self._order_json(order)

    def _open_orders(self, params: dict[str, str], user: str) -> list:
        symbol = params.get("symbol")
        if symbol:
            self.state.perp(symbol)
        return [
            self._order_json(o)
            for o in sorted(self.state.orders.values(), key=lambda o: o.order_id)
            if o.user == user and o.status in OPEN_STATUSES and (not symbol or o.symbol == symbol)
        ]

    def _cancel_all(self, params: dict[str, str], user: str) -> dict:
        spec = self.state.perp(params.get("symbol"))
        for order in self.state.orders.values():
            if order.user == user and order.symbol == spec.symbol and order.status in OPEN_STATUSES:
                order.status, order.update_ms = "CANCELED", now_ms()
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _set_leverage(self, params: dict[str, str], user: str) -> dict:
        spec = self.state.perp(params.get("symbol"))
        leverage = _int_param(params, "leverage", 0)
        if not 1 <= leverage <= spec.max_leverage:
            raise ApiError(400, -4028, f"Leverage {leverage} is not valid")
        self.state.account(user).leverage[spec.symbol] = leverage
        cap = max((b.cap for b in spec.brackets if b.leverage >= leverage), default=spec.brackets[0].cap)
        return {"leverage": leverage, "maxNotionalValue": str(int(cap)), "symbol": spec.symbol}

    def _listen_key_new(self, params: dict[str, str], user: str) -> dict:
        key = secrets.token_urlsafe(48)
        self.state.listen_keys[key] = user
        return {"listenKey": key}

    def _approve_builder(self, params: dict[str, str], user: str) -> dict:
        account = self.state.account(user)
        account.builders.append(
            {
                "userAddress": user,
                "builderAddress": params.get("builder", ""),
                "maxFeeRate": params.get("maxFeeRate", ""),
                "builderName": params.get("builderName", ""),
            }
        )
        return {"code": 200, "msg": "success"}

    # --- websocket ------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        transport = request.transport
        await ws.prepare(request)
        connection = _WsConnection(ws, transport, WS_PATHS[request.path])
        self._ws.add(connection)
        self.ws_connections_total += 1
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                except ValueError:
                    await ws.send_json({"code": 2, "msg": "Invalid request: malformed JSON"})
                    continue
                self.ws_messages.append(data)
                method, streams = data.get("method"), list(data.get("params") or [])
                if method == "SUBSCRIBE":
                    connection.streams.update(streams)
                    await ws.send_json({"result": None, "id": data.get("id")})
                    for stream in streams:
                        if "@kline_" in stream:
                            await self._send_kline(connection, stream)
                elif method == "UNSUBSCRIBE":
                    connection.streams.difference_update(streams)
                    await ws.send_json({"result": None, "id": data.get("id")})
                elif method == "LIST_SUBSCRIPTIONS":
                    await ws.send_json({"result": sorted(connection.streams), "id": data.get("id")})
        finally:
            self._ws.discard(connection)
        return ws

    async def _send_kline(self, connection: _WsConnection, stream: str) -> None:
        market_id, _, interval = stream.partition("@kline_")
        symbol = market_id.upper()
        with self.state.lock:
            spec = self.state.perp(symbol)
            row = self.state.kline_rows(symbol, interval)[-1]
            open_ms, o, h, lo, c, v = row
            close_ms = open_ms + INTERVAL_MS[interval] - 1
            event = {
                "e": "kline",
                "E": now_ms(),
                "s": symbol,
                "k": {
                    "t": open_ms,
                    "T": close_ms,
                    "s": symbol,
                    "i": interval,
                    "f": 1000,
                    "L": 1099,
                    "o": fmt(o, spec.tick),
                    "c": fmt(c, spec.tick),
                    "h": fmt(h, spec.tick),
                    "l": fmt(lo, spec.tick),
                    "v": fmt(v, spec.step),
                    "n": 100,
                    "x": close_ms < now_ms(),
                    "q": fmt(v * c, Decimal("0.0001")),
                    "V": fmt(v / 2, spec.step),
                    "Q": fmt(v * c / 2, Decimal("0.0001")),
                    "B": "0",
                },
            }
        await connection.ws.send_json({"stream": stream, "data": event} if connection.combined else event)


def _error_page(status: int) -> web.Response:
    reasons = {
        404: "Not Found",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
    reason = reasons.get(status, "Error")
    return web.Response(
        status=status, text=f"<html><body><h1>{status} {reason}</h1></body></html>", content_type="text/html"
    )


def _int_param(params: dict[str, str], name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.") from exc
