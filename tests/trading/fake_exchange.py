"""A fake Binance and a fake OKX on 127.0.0.1, for testing the ccxt adapter with ccxt's real request
building and signing.

Each speaks the part of the REST API that ccxt 4.5 calls for markets, tickers, candles, balances,
orders (plain and stop/take-profit "algo" orders), positions, leverage and key permissions:

- Binance: spot ``/api/v3``, ``/sapi/v1/account/apiRestrictions`` and USDT-M futures ``/fapi``;
- OKX: ``/api/v5`` (instruments, market, account, trade).

Private requests must be signed as the exchange wants (Binance: ``X-MBX-APIKEY`` and an HMAC-SHA256 hex
``signature`` of the query string or form body; OKX: ``OK-ACCESS-KEY/SIGN/TIMESTAMP/PASSPHRASE`` with a
base64 HMAC-SHA256 of timestamp + method + path + body). Errors come in the exchanges' own shapes and
codes. Orders fill at once at the current price when marketable (market orders, crossing limits);
everything else rests. Every request is recorded (``requests``, ``calls()``, ``creates()``).

Faults: ``reject_keys``, ``rate_limit(n)``, ``server_error(n)``, ``delay_next_create(s)`` (the order is
created, the answer comes late), ``delist(symbol)``, ``echo_requests`` (error messages quote the
request, headers included, as a careless exchange might). A seeded plan of random faults per request
(time-outs, 5xx, 429, lost answers, partial fills, duplicate fill reports) and changes made outside Trendy
lives in ``tests/trading/fault_plan.py``: set ``plan`` on a fake (``FaultPlan.attach``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

FEE_RATE = Decimal("0.001")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
API_KEY = "fake-api-key-0123456789"
SECRET = "fake-secret-abcdefghij"
PASSPHRASE = "fake-pass-phrase"


def now_ms() -> int:
    return int(time.time() * 1000)


def text(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def crosses(side: str, limit: Decimal, current: Decimal) -> bool:
    return limit >= current if side == "buy" else limit <= current


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]  # Binance: the url-encoded POST body
    body: Any  # OKX: the JSON body (a dict or a list)
    headers: dict[str, str]
    raw: str  # method, target, headers and body as one text

    @property
    def fields(self) -> dict[str, Any]:
        """Query, form and JSON fields together (the first entry of a JSON list)."""
        merged: dict[str, Any] = {**self.query, **self.form}
        body = self.body[0] if isinstance(self.body, list) and self.body else self.body
        if isinstance(body, dict):
            merged.update(body)
        return merged

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class FakeMarket:
    symbol: str  # unified
    exchange_id: str
    base: str
    quote: str
    swap: bool
    amount_step: Decimal  # in order units (contracts on OKX swaps)
    price_step: Decimal
    min_amount: Decimal
    min_notional: Decimal = Decimal(0)
    contract_size: Decimal = Decimal(1)


@dataclass
class FakeOrder:
    id: str
    client_id: str
    market: FakeMarket
    side: str  # buy / sell
    type: str  # market / limit / stop_market / take_profit
    amount: Decimal  # order units
    price: Decimal | None = None
    trigger: Decimal | None = None
    reduce_only: bool = False
    algo: bool = False  # a stop kept apart (Binance futures algo order, OKX algo order)
    status: str = "open"  # open / filled / canceled
    filled: Decimal = Decimal(0)
    average: Decimal | None = None
    fee: Decimal = Decimal(0)
    created_ms: int = field(default_factory=now_ms)
    updated_ms: int = field(default_factory=now_ms)
    pieces: list[Decimal] = field(default_factory=list)  # a partial fill: what later polls fill, in order units
    trades: list[tuple[int, Decimal, Decimal, Decimal, int]] = field(default_factory=list)  # id, qty, price, fee, ms


@dataclass
class FakePosition:
    amount: Decimal  # signed, base units
    entry: Decimal
    opened_ms: int = field(default_factory=now_ms)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


DROP = Reply(0, None)  # close the connection without an answer (the client sees it cut or times out)


class Refused(Exception):
    """An error answer in the exchange's shape."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.reply = Reply(status, body, headers or {})


@dataclass
class Fault:
    reply: Reply
    times: int
    path: str | None = None  # only requests whose path starts with this


class FakeVenue:
    """State, request log, fault injection and the fill rules shared by both fakes."""

    name = ""
    markets: tuple[FakeMarket, ...] = ()
    create_paths: tuple[str, ...] = ()
    public_prefixes: tuple[str, ...] = ()

    def __init__(self, *, api_key: str = API_KEY, secret: str = SECRET, passphrase: str = "") -> None:
        self.api_key, self.secret, self.passphrase = api_key, secret, passphrase
        self.url = ""
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.sleeps: list[float] = []  # what the adapters built by ``exchange()`` slept
        self.balances: dict[str, Decimal] = {"USDT": Decimal(10_000), "BTC": Decimal("0.5"), "ETH": Decimal(5)}
        self.prices: dict[str, Decimal] = {"BTC/USDT": Decimal(50_000), "ETH/USDT": Decimal(3_000)}
        self.orders: list[FakeOrder] = []
        self.positions: dict[str, FakePosition] = {}
        self.leverage: dict[str, int] = {}
        self.margin_modes: dict[str, str] = {}
        self.permissions = {"trade": True, "withdraw": False, "ip_restricted": False}
        self.reject_keys = False
        self.echo_requests = False
        self.delisted: set[str] = set()
        self._faults: list[Fault] = []
        self._create_delay = 0.0
        self._seq = 1000
        self.plan: Any = None  # a fault_plan.FaultPlan: random faults per request
        self.split_next_fill = 0  # the next market order fills in this many pieces (the rest on later polls)
        self.duplicate_next_fills = False  # the next order answer reports each of its trades twice

    # --- faults ------------------------------------------------------------------------------------
    def rate_limit(self, times: int = 1, *, path: str | None = None) -> None:
        """Answer the next ``times`` requests (to ``path``) with the exchange's HTTP 429."""
        self._faults.append(Fault(self.too_many_requests(), times, path))

    def server_error(self, times: int = 1, *, status: int = 503, path: str | None = None) -> None:
        """Answer the next ``times`` requests (to ``path``) with a bare 5xx, before doing anything."""
        self._faults.append(Fault(Reply(status, "Service Unavailable"), times, path))

    def delay_next_create(self, seconds: float) -> None:
        """Create the next order as usual, then wait ``seconds`` before answering."""
        self._create_delay = seconds

    def delist(self, symbol: str) -> None:
        self.delisted.add(symbol)

    def too_many_requests(self) -> Reply:
        raise NotImplementedError

    # --- inspection --------------------------------------------------------------------------------
    def calls(self, path: str | None = None, method: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if (path is None or r.path == path) and (method in (None, r.method))]

    def creates(self) -> list[Recorded]:
        return [r for r in self.calls(method="POST") if r.path in self.create_paths]

    def order(self, client_id: str) -> FakeOrder | None:
        return next((o for o in self.orders if o.client_id == client_id), None)

    def open_position(self, symbol: str, side: str, amount: Decimal, entry: Decimal, leverage: int = 5) -> None:
        """Seed a swap position (``amount`` in base units)."""
        self.positions[symbol] = FakePosition(amount if side == "long" else -amount, entry)
        self.leverage[symbol] = leverage

    def exchange(self, market_type: str = "spot", **options: Any) -> Any:
        """A ``CcxtExchange`` pointed at this fake: no rate-limit spacing, recorded (not real) sleeps."""
        from trading.exchanges.ccxt_exchange import CcxtExchange

        settings: dict[str, Any] = {
            "api_key": self.api_key,
            "secret": self.secret,
            "passphrase": self.passphrase,
            "market_type": market_type,
            "api_urls": {"*": self.url},
            "rate_limit_ms": 0,
            "timeout_ms": 3000,
            "sleep": self.sleeps.append,
            **options,
        }
        return CcxtExchange(self.name, **settings)

    # --- markets and fills -------------------------------------------------------------------------
    def market_by_id(self, exchange_id: str | None) -> FakeMarket | None:
        market = next((m for m in self.markets if m.exchange_id == exchange_id), None)
        return None if market is None or market.symbol in self.delisted else market

    def price(self, market: FakeMarket) -> Decimal:
        return self.prices[f"{market.base}/{market.quote}"]

    def next_id(self) -> str:
        self._seq += 1
        return str(self._seq)

    def free_margin(self) -> Decimal:
        used = sum((abs(p.amount) * p.entry / self.leverage.get(s, 10) for s, p in self.positions.items()), Decimal(0))
        return self.balances.get("USDT", Decimal(0)) - used

    def reduces(self, order: FakeOrder) -> bool:
        position = self.positions.get(order.market.symbol)
        if position is None or position.amount == 0:
            return False
        closing_side = "sell" if position.amount > 0 else "buy"
        return order.side == closing_side and order.amount * order.market.contract_size <= abs(position.amount)

    def funds_missing(self, order: FakeOrder, price: Decimal) -> bool:
        market = order.market
        qty = order.amount * market.contract_size
        if market.swap:
            if order.reduce_only:
                return False
            return qty * price / self.leverage.get(market.symbol, 10) > self.free_margin()
        if order.side == "buy":
            return qty * price * (1 + FEE_RATE) > self.balances.get(market.quote, Decimal(0))
        return qty > self.balances.get(market.base, Decimal(0))

    def place(self, order: FakeOrder) -> None:
        """Store the order; fill it at once when it is a market order or a crossing limit (in pieces over
        later polls after ``split_next_fill``)."""
        current = self.price(order.market)
        self.orders.append(order)
        if order.type == "market":
            pieces, self.split_next_fill = self.split_next_fill, 0
            if pieces > 1:
                order.pieces = self.pieces(order, pieces)
                self.fill(order, current, order.pieces.pop(0))
            else:
                self.fill(order, current)
        elif order.type == "limit" and order.price is not None and crosses(order.side, order.price, current):
            self.fill(order, order.price)

    @staticmethod
    def pieces(order: FakeOrder, count: int) -> list[Decimal]:
        """``order.amount`` cut into ``count`` pieces on the market's size step (the last takes the rest)."""
        step = order.market.amount_step
        piece = (order.amount / count // step) * step
        if piece <= 0:
            return [order.amount]
        return [piece] * (count - 1) + [order.amount - piece * (count - 1)]

    def advance(self, order: FakeOrder) -> None:
        """A poll of a partially filled order: the next piece fills."""
        if order.pieces and order.status == "open":
            self.fill(order, order.average or self.price(order.market), order.pieces.pop(0))

    def fill(self, order: FakeOrder, price: Decimal, piece: Decimal | None = None) -> None:
        """Fill ``piece`` order units (the rest of the order when None) at ``price``."""
        market = order.market
        amount = order.amount - order.filled if piece is None else piece
        qty = amount * market.contract_size
        cost = qty * price
        fee = cost * FEE_RATE
        if market.swap:
            self.balances["USDT"] -= fee
            self.move_position(market.symbol, qty if order.side == "buy" else -qty, price)
        elif order.side == "buy":
            self.balances[market.quote] -= cost + fee
            self.balances[market.base] = self.balances.get(market.base, Decimal(0)) + qty
        else:
            self.balances[market.base] -= qty
            self.balances[market.quote] += cost - fee
        filled = order.filled + amount
        self._seq += 1
        order.trades.append((self._seq, amount, price, fee, now_ms()))
        order.average = ((order.average or price) * order.filled + price * amount) / filled
        order.filled, order.fee = filled, order.fee + fee
        order.status = "filled" if filled >= order.amount else "open"
        order.updated_ms = now_ms()

    def move_position(self, symbol: str, signed: Decimal, price: Decimal) -> None:
        position = self.positions.get(symbol)
        if position is None or position.amount == 0:
            self.positions[symbol] = FakePosition(signed, price)
            return
        if (position.amount > 0) == (signed > 0):
            total = position.amount + signed
            position.entry = (position.entry * position.amount + price * signed) / total
            position.amount = total
            return
        closing = min(abs(signed), abs(position.amount))
        direction = 1 if position.amount > 0 else -1
        self.balances["USDT"] += closing * (price - position.entry) * direction
        position.amount += signed
        if position.amount == 0:
            del self.positions[symbol]
        elif (position.amount > 0) != (direction > 0):
            position.entry = price

    def find(self, *, order_id: str | None, client_id: str | None, algo: bool) -> FakeOrder | None:
        for order in self.orders:
            if order.algo != algo:
                continue
            if (order_id and order.id == order_id) or (client_id and order.client_id == client_id):
                return order
        return None

    # --- HTTP --------------------------------------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Callable[[Recorded], Any]]:
        raise NotImplementedError

    def authenticate(self, request: Recorded, raw_query: str, raw_body: str, target: str) -> None:
        raise NotImplementedError

    def not_found(self, path: str) -> Reply:
        raise NotImplementedError

    def echo(self, reply: Reply, request: Recorded) -> Reply:
        """The error message with the request quoted: credentials headers first, then the rest."""
        secret_first = sorted(
            request.headers.items(), key=lambda item: not item[0].upper().startswith(("X-MBX", "OK-"))
        )
        quoted = f"{dict(secret_first)} {request.method} {request.path}?{urlencode(request.query)} {request.form}"
        return Reply(
            reply.status, dict(reply.body) | {"msg": f"{reply.body['msg']} (received {quoted})"}, reply.headers
        )

    def handle(self, method: str, target: str, raw_body: str, headers: dict[str, str]) -> Reply:
        """One request, through the fault plan when there is one."""
        if self.plan is not None:
            return self.plan.serve(self, method, target, raw_body, headers)
        return self.serve(method, target, raw_body, headers)

    def serve(self, method: str, target: str, raw_body: str, headers: dict[str, str]) -> Reply:
        parts = urlsplit(target)
        form = (
            dict(parse_qsl(raw_body, keep_blank_values=True))
            if raw_body and not raw_body.startswith(("{", "["))
            else {}
        )
        body = json.loads(raw_body) if raw_body.startswith(("{", "[")) else None
        request = Recorded(
            method=method,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            form=form,
            body=body,
            headers=headers,
            raw=f"{method} {target} {headers} {raw_body}",
        )
        delay = 0.0
        with self.lock:
            self.requests.append(request)
            fault = next((f for f in self._faults if f.path is None or parts.path.startswith(f.path)), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault.reply
            route = self.routes().get((method, parts.path))
            if route is None:
                return self.not_found(parts.path)
            try:
                if not parts.path.startswith(self.public_prefixes):
                    self.authenticate(request, parts.query, raw_body, target)
                reply = Reply(200, route(request))
            except Refused as refused:
                return self.echo(refused.reply, request) if self.echo_requests else refused.reply
            except Exception as exc:  # noqa: BLE001 - a bug in the fake: answer it instead of dropping the line
                return Reply(500, {"code": "-1", "msg": f"the fake failed: {exc!r}"})
            if parts.path in self.create_paths and self._create_delay:
                delay, self._create_delay = self._create_delay, 0.0
        if delay:
            time.sleep(delay)
        return reply


# --- Binance -------------------------------------------------------------------------------------------------


class FakeBinance(FakeVenue):
    """Binance spot (``/api/v3``), wallet (``/sapi/v1``) and USDT-M futures (``/fapi``)."""

    name = "binance"
    markets = (
        FakeMarket(
            "BTC/USDT",
            "BTCUSDT",
            "BTC",
            "USDT",
            False,
            Decimal("0.00001"),
            Decimal("0.01"),
            Decimal("0.00001"),
            Decimal(5),
        ),
        FakeMarket(
            "ETH/USDT",
            "ETHUSDT",
            "ETH",
            "USDT",
            False,
            Decimal("0.0001"),
            Decimal("0.01"),
            Decimal("0.0001"),
            Decimal(5),
        ),
        FakeMarket(
            "BTC/USDT:USDT",
            "BTCUSDT",
            "BTC",
            "USDT",
            True,
            Decimal("0.001"),
            Decimal("0.10"),
            Decimal("0.001"),
            Decimal(100),
        ),
    )
    create_paths = ("/api/v3/order", "/fapi/v1/order", "/fapi/v1/algoOrder")
    public_prefixes = (
        "/api/v3/exchangeInfo",
        "/api/v3/ticker",
        "/api/v3/klines",
        "/api/v3/time",
        "/api/v3/ping",
        "/fapi/v1/exchangeInfo",
        "/fapi/v1/ticker",
        "/fapi/v1/klines",
        "/fapi/v1/time",
        "/fapi/v1/ping",
    )

    def routes(self) -> dict[tuple[str, str], Callable[[Recorded], Any]]:
        return {
            ("GET", "/api/v3/exchangeInfo"): lambda r: self.exchange_info(swap=False),
            ("GET", "/fapi/v1/exchangeInfo"): lambda r: self.exchange_info(swap=True),
            ("GET", "/api/v3/time"): lambda r: {"serverTime": now_ms()},
            ("GET", "/fapi/v1/time"): lambda r: {"serverTime": now_ms()},
            ("GET", "/api/v3/ticker/24hr"): lambda r: self.ticker(r, swap=False),
            ("GET", "/fapi/v1/ticker/24hr"): lambda r: self.ticker(r, swap=True),
            ("GET", "/api/v3/klines"): lambda r: self.klines(r, swap=False),
            ("GET", "/fapi/v1/klines"): lambda r: self.klines(r, swap=True),
            ("GET", "/api/v3/account"): self.spot_account,
            ("GET", "/sapi/v1/account/apiRestrictions"): self.api_restrictions,
            ("POST", "/api/v3/order"): lambda r: self.new_order(r, swap=False),
            ("GET", "/api/v3/order"): lambda r: self.get_order(r, swap=False),
            ("DELETE", "/api/v3/order"): lambda r: self.cancel(r, swap=False),
            ("GET", "/api/v3/openOrders"): lambda r: self.open_orders(r, swap=False, algo=False),
            ("GET", "/api/v3/myTrades"): self.my_trades,
            ("GET", "/fapi/v3/account"): self.futures_account,
            ("GET", "/fapi/v2/account"): self.futures_account,
            ("POST", "/fapi/v1/order"): lambda r: self.new_order(r, swap=True),
            ("GET", "/fapi/v1/order"): lambda r: self.get_order(r, swap=True),
            ("DELETE", "/fapi/v1/order"): lambda r: self.cancel(r, swap=True),
            ("GET", "/fapi/v1/openOrders"): lambda r: self.open_orders(r, swap=True, algo=False),
            ("POST", "/fapi/v1/algoOrder"): self.new_algo_order,
            ("GET", "/fapi/v1/algoOrder"): self.get_algo_order,
            ("DELETE", "/fapi/v1/algoOrder"): self.cancel_algo,
            ("GET", "/fapi/v1/openAlgoOrders"): lambda r: self.open_orders(r, swap=True, algo=True),
            ("GET", "/fapi/v3/positionRisk"): self.position_risk,
            ("GET", "/fapi/v1/leverageBracket"): self.leverage_brackets,
            ("POST", "/fapi/v1/leverage"): self.set_leverage,
            ("POST", "/fapi/v1/marginType"): self.set_margin_type,
        }

    @staticmethod
    def error(status: int, code: int, msg: str) -> Refused:
        return Refused(status, {"code": code, "msg": msg})

    def too_many_requests(self) -> Reply:
        msg = "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute."
        return Reply(429, {"code": -1003, "msg": msg}, {"Retry-After": "1"})

    def not_found(self, path: str) -> Reply:
        return Reply(404, {"code": -1, "msg": f"fake binance does not serve {path}"})

    def authenticate(self, request: Recorded, raw_query: str, raw_body: str, target: str) -> None:
        if self.reject_keys or request.header("X-MBX-APIKEY") != self.api_key:
            raise self.error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        payload = raw_query + raw_body
        at = payload.rfind("&signature=")
        if at < 0:
            raise self.error(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        expected = hmac.new(self.secret.encode(), payload[:at].encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, payload[at + len("&signature=") :]):
            raise self.error(400, -1022, "Signature for this request is not valid.")
        fields = request.fields
        if abs(now_ms() - int(fields.get("timestamp", 0))) > int(fields.get("recvWindow", 5000)):
            raise self.error(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    # public
    def exchange_info(self, *, swap: bool) -> dict[str, Any]:
        symbols = []
        for m in self.markets:
            if m.swap != swap or m.symbol in self.delisted:
                continue
            filters = [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.01",
                    "maxPrice": "1000000",
                    "tickSize": text(m.price_step),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": text(m.min_amount),
                    "maxQty": "9000",
                    "stepSize": text(m.amount_step),
                },
            ]
            entry: dict[str, Any] = {
                "symbol": m.exchange_id,
                "status": "TRADING",
                "baseAsset": m.base,
                "quoteAsset": m.quote,
            }
            if swap:
                filters.append({"filterType": "MIN_NOTIONAL", "notional": text(m.min_notional)})
                entry |= {
                    "pair": m.exchange_id,
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1569398400000,
                    "marginAsset": m.quote,
                    "pricePrecision": 2,
                    "quantityPrecision": 3,
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "underlyingType": "COIN",
                    "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
                }
            else:
                filters.append(
                    {"filterType": "NOTIONAL", "minNotional": text(m.min_notional), "applyMinToMarket": True}
                )
                entry |= {
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": [
                        "LIMIT",
                        "LIMIT_MAKER",
                        "MARKET",
                        "STOP_LOSS",
                        "STOP_LOSS_LIMIT",
                        "TAKE_PROFIT",
                        "TAKE_PROFIT_LIMIT",
                    ],
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "permissions": ["SPOT"],
                    "permissionSets": [["SPOT"]],
                }
            entry["filters"] = filters
            symbols.append(entry)
        return {"timezone": "UTC", "serverTime": now_ms(), "rateLimits": [], "exchangeFilters": [], "symbols": symbols}

    def market_of(self, request: Recorded, *, swap: bool) -> FakeMarket:
        market = next(
            (m for m in self.markets if m.swap == swap and m.exchange_id == request.fields.get("symbol")), None
        )
        if market is None or market.symbol in self.delisted:
            raise self.error(400, -1121, "Invalid symbol.")
        return market

    def ticker(self, request: Recorded, *, swap: bool) -> dict[str, Any]:
        market = self.market_of(request, swap=swap)
        price = self.price(market)
        return {
            "symbol": market.exchange_id,
            "lastPrice": text(price),
            "bidPrice": text(price - market.price_step),
            "askPrice": text(price + market.price_step),
            "openPrice": text(price),
            "highPrice": text(price),
            "lowPrice": text(price),
            "volume": "100",
            "quoteVolume": text(price * 100),
            "openTime": now_ms() - 86_400_000,
            "closeTime": now_ms(),
        }

    def klines(self, request: Recorded, *, swap: bool) -> list[list[Any]]:
        market = self.market_of(request, swap=swap)
        price = text(self.price(market))
        hour = 3_600_000
        start = now_ms() // hour * hour - 2 * hour
        return [
            [start + i * hour, price, price, price, price, "1", start + (i + 1) * hour - 1, price, 1, "0", "0", "0"]
            for i in range(3)
        ]

    # account
    def spot_account(self, request: Recorded) -> dict[str, Any]:
        balances = [{"asset": a, "free": text(v), "locked": "0"} for a, v in self.balances.items()]
        return {
            "canTrade": True,
            "canWithdraw": True,
            "updateTime": now_ms(),
            "accountType": "SPOT",
            "balances": balances,
        }

    def futures_account(self, request: Recorded) -> dict[str, Any]:
        wallet = self.balances["USDT"]
        free = self.free_margin()
        asset = {
            "asset": "USDT",
            "walletBalance": text(wallet),
            "marginBalance": text(wallet),
            "availableBalance": text(free),
            "initialMargin": text(wallet - free),
            "updateTime": now_ms(),
        }
        return {"totalWalletBalance": text(wallet), "availableBalance": text(free), "assets": [asset], "positions": []}

    def api_restrictions(self, request: Recorded) -> dict[str, Any]:
        return {
            "ipRestrict": self.permissions["ip_restricted"],
            "createTime": now_ms(),
            "enableReading": True,
            "enableWithdrawals": self.permissions["withdraw"],
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": self.permissions["trade"],
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enableSpotAndMarginTrading": self.permissions["trade"],
        }

    # orders
    def check_amount(self, market: FakeMarket, amount: Decimal) -> None:
        if amount < market.min_amount or amount % market.amount_step:
            raise self.error(400, -1013, "Filter failure: LOT_SIZE")

    def check_price(self, market: FakeMarket, price: Decimal | None) -> None:
        if price is not None and (price <= 0 or price % market.price_step):
            raise self.error(400, -1013, "Filter failure: PRICE_FILTER")

    def new_order(self, request: Recorded, *, swap: bool) -> dict[str, Any]:
        fields = request.fields
        market = self.market_of(request, swap=swap)
        kinds = {"MARKET": "market", "LIMIT": "limit", "STOP_LOSS": "stop_market", "TAKE_PROFIT": "take_profit"}
        kind = kinds.get(fields.get("type", ""))
        if kind is None or (swap and kind not in ("market", "limit")):
            raise self.error(400, -1116, "Invalid orderType.")
        client_id = fields.get("newClientOrderId") or f"fake{self.next_id()}"
        if any(o.client_id == client_id and o.status == "open" for o in self.orders):
            raise self.error(400, -2010, "Duplicate order sent.")
        amount = Decimal(fields["quantity"])
        price = Decimal(fields["price"]) if "price" in fields else None
        trigger = Decimal(fields["stopPrice"]) if "stopPrice" in fields else None
        self.check_amount(market, amount)
        self.check_price(market, price)
        self.check_price(market, trigger)
        order = FakeOrder(
            self.next_id(),
            client_id,
            market,
            fields["side"].lower(),
            kind,
            amount,
            price,
            trigger,
            reduce_only=fields.get("reduceOnly") == "true",
        )
        reference = price or trigger or self.price(market)
        if swap:
            if order.reduce_only and not self.reduces(order):
                raise self.error(400, -2022, "ReduceOnly Order is rejected.")
            if not order.reduce_only and amount * reference < market.min_notional:
                minimum = text(market.min_notional)
                msg = f"Order's notional must be no smaller than {minimum} (unless you choose reduce only)."
                raise self.error(400, -4164, msg)
            if self.funds_missing(order, reference):
                raise self.error(400, -2019, "Margin is insufficient.")
        else:
            if amount * reference < market.min_notional:
                raise self.error(400, -1013, "Filter failure: NOTIONAL")
            if kind in ("stop_market", "take_profit") and trigger is not None:
                current = self.price(market)
                below = trigger <= current
                if (kind == "stop_market") == (below if order.side == "buy" else not below):
                    raise self.error(400, -2010, "Stop price would trigger immediately.")
            if self.funds_missing(order, reference):
                raise self.error(400, -2010, "Account has insufficient balance for requested action.")
        self.place(order)
        body = self.render(order, swap=swap)
        if not swap and order.filled > 0:
            assert order.average is not None
            body["fills"] = [
                {
                    "price": text(price),
                    "qty": text(qty),
                    "commission": text(fee),
                    "commissionAsset": market.quote,
                    "tradeId": trade_id,
                }
                for trade_id, qty, price, fee, _ms in order.trades
            ]
            if self.duplicate_next_fills:  # the same trade reported twice
                body["fills"] = body["fills"] * 2
        self.duplicate_next_fills = False
        return body | {"transactTime": order.updated_ms} if not swap else body

    def render(self, order: FakeOrder, *, swap: bool) -> dict[str, Any]:
        market = order.market
        statuses = {"open": "PARTIALLY_FILLED" if order.filled else "NEW", "filled": "FILLED", "canceled": "CANCELED"}
        types = {"market": "MARKET", "limit": "LIMIT", "stop_market": "STOP_LOSS", "take_profit": "TAKE_PROFIT"}
        body: dict[str, Any] = {
            "symbol": market.exchange_id,
            "orderId": int(order.id),
            "clientOrderId": order.client_id,
            "price": text(order.price or Decimal(0)),
            "origQty": text(order.amount),
            "executedQty": text(order.filled),
            "status": statuses[order.status],
            "timeInForce": "GTC",
            "type": types[order.type],
            "side": order.side.upper(),
            "stopPrice": text(order.trigger or Decimal(0)),
            "time": order.created_ms,
            "updateTime": order.updated_ms,
        }
        quote_qty = text(order.filled * (order.average or Decimal(0)))
        if swap:
            body |= {
                "avgPrice": text(order.average or Decimal(0)),
                "cumQty": text(order.filled),
                "cumQuote": quote_qty,
                "reduceOnly": order.reduce_only,
                "closePosition": False,
                "positionSide": "BOTH",
                "origType": body["type"],
            }
        else:
            body |= {
                "orderListId": -1,
                "cummulativeQuoteQty": quote_qty,
                "workingTime": order.created_ms,
                "isWorking": True,
            }
        return body

    def my_trades(self, request: Recorded) -> list[dict[str, Any]]:
        """Spot trades of the account on a symbol (of one order with ``orderId``)."""
        market = self.market_of(request, swap=False)
        wanted = request.fields.get("orderId")
        trades = []
        for order in self.orders:
            if order.market != market or (wanted and order.id != wanted):
                continue
            for trade_id, qty, price, fee, ms in order.trades:
                trades.append(
                    {
                        "symbol": market.exchange_id,
                        "id": trade_id,
                        "orderId": int(order.id),
                        "orderListId": -1,
                        "price": text(price),
                        "qty": text(qty),
                        "quoteQty": text(qty * price),
                        "commission": text(fee),
                        "commissionAsset": market.quote,
                        "time": ms,
                        "isBuyer": order.side == "buy",
                        "isMaker": False,
                        "isBestMatch": True,
                    }
                )
        if self.duplicate_next_fills:  # the same trades reported twice
            trades = trades * 2
        return trades

    def lookup(self, request: Recorded, *, algo: bool) -> FakeOrder:
        fields = request.fields
        order = self.find(
            order_id=fields.get("algoId" if algo else "orderId"),
            client_id=fields.get("clientAlgoId" if algo else "origClientOrderId"),
            algo=algo,
        )
        if order is None or order.market.exchange_id != fields.get("symbol", order.market.exchange_id):
            raise self.error(400, -2013, "Order does not exist.")
        return order

    def get_order(self, request: Recorded, *, swap: bool) -> dict[str, Any]:
        self.market_of(request, swap=swap)
        order = self.lookup(request, algo=False)
        self.advance(order)
        return self.render(order, swap=swap)

    def cancel(self, request: Recorded, *, swap: bool) -> dict[str, Any]:
        self.market_of(request, swap=swap)
        try:
            order = self.lookup(request, algo=False)
        except Refused:
            raise self.error(400, -2011, "Unknown order sent.") from None
        if order.status != "open":
            raise self.error(400, -2011, "Unknown order sent.")
        order.status, order.updated_ms = "canceled", now_ms()
        # Binance answers with a fresh client id for the cancel and the original one apart.
        return self.render(order, swap=swap) | {
            "origClientOrderId": order.client_id,
            "clientOrderId": f"cancel{order.id}",
        }

    def open_orders(self, request: Recorded, *, swap: bool, algo: bool) -> list[dict[str, Any]]:
        symbol = request.fields.get("symbol")
        chosen = [
            o
            for o in self.orders
            if o.status == "open"
            and o.algo == algo
            and o.market.swap == swap
            and symbol in (None, o.market.exchange_id)
        ]
        return [self.render_algo(o) if algo else self.render(o, swap=swap) for o in chosen]

    def new_algo_order(self, request: Recorded) -> dict[str, Any]:
        fields = request.fields
        market = self.market_of(request, swap=True)
        kinds = {"STOP_MARKET": "stop_market", "TAKE_PROFIT_MARKET": "take_profit"}
        if fields.get("algoType") != "CONDITIONAL" or fields.get("type") not in kinds:
            raise self.error(400, -1116, "Invalid orderType.")
        client_id = fields.get("clientAlgoId") or f"fake{self.next_id()}"
        if any(o.client_id == client_id and o.status == "open" for o in self.orders):
            raise self.error(400, -4116, "ClientOrderId is duplicated.")
        amount, trigger = Decimal(fields["quantity"]), Decimal(fields["triggerPrice"])
        self.check_amount(market, amount)
        self.check_price(market, trigger)
        order = FakeOrder(
            self.next_id(),
            client_id,
            market,
            fields["side"].lower(),
            kinds[fields["type"]],
            amount,
            None,
            trigger,
            reduce_only=fields.get("reduceOnly") == "true",
            algo=True,
        )
        if order.reduce_only and not self.reduces(order):
            raise self.error(400, -2022, "ReduceOnly Order is rejected.")
        self.orders.append(order)
        return self.render_algo(order)

    def render_algo(self, order: FakeOrder) -> dict[str, Any]:
        statuses = {"open": "NEW", "filled": "FINISHED", "canceled": "CANCELED"}
        return {
            "algoId": int(order.id),
            "clientAlgoId": order.client_id,
            "algoType": "CONDITIONAL",
            "orderType": "STOP_MARKET" if order.type == "stop_market" else "TAKE_PROFIT_MARKET",
            "symbol": order.market.exchange_id,
            "side": order.side.upper(),
            "positionSide": "BOTH",
            "timeInForce": "GTC",
            "quantity": text(order.amount),
            "algoStatus": statuses[order.status],
            "triggerPrice": text(order.trigger),
            "price": "0",
            "workingType": "CONTRACT_PRICE",
            "closePosition": False,
            "reduceOnly": order.reduce_only,
            "createTime": order.created_ms,
            "updateTime": order.updated_ms,
            "triggerTime": 0,
        }

    def get_algo_order(self, request: Recorded) -> dict[str, Any]:
        return self.render_algo(self.lookup(request, algo=True))

    def cancel_algo(self, request: Recorded) -> dict[str, Any]:
        order = self.lookup(request, algo=True)
        if order.status != "open":
            raise self.error(400, -2011, "Unknown order sent.")
        order.status, order.updated_ms = "canceled", now_ms()
        return {"algoId": int(order.id), "clientAlgoId": order.client_id, "code": "200", "msg": "success"}

    # positions and leverage
    def position_risk(self, request: Recorded) -> list[dict[str, Any]]:
        rows = []
        for symbol, p in self.positions.items():
            market = next(m for m in self.markets if m.symbol == symbol)
            mark = self.price(market)
            leverage = self.leverage.get(symbol, 10)
            notional = p.amount * mark
            margin = abs(p.amount) * p.entry / leverage
            liquidation = (
                p.entry * (1 - Decimal(1) / leverage) if p.amount > 0 else p.entry * (1 + Decimal(1) / leverage)
            )
            rows.append(
                {
                    "symbol": market.exchange_id,
                    "positionSide": "BOTH",
                    "positionAmt": text(p.amount),
                    "entryPrice": text(p.entry),
                    "markPrice": text(mark),
                    "unRealizedProfit": text(p.amount * (mark - p.entry)),
                    "liquidationPrice": text(liquidation),
                    "isolatedMargin": text(margin),
                    "notional": text(notional),
                    "marginAsset": "USDT",
                    "isolatedWallet": text(margin),
                    "initialMargin": text(margin),
                    "maintMargin": text(abs(notional) * Decimal("0.004")),
                    "updateTime": p.opened_ms,
                }
            )
        return rows

    def leverage_brackets(self, request: Recorded) -> list[dict[str, Any]]:
        bracket = {
            "bracket": 1,
            "initialLeverage": 125,
            "notionalCap": 50000,
            "notionalFloor": 0,
            "maintMarginRatio": 0.004,
            "cum": 0.0,
        }
        return [{"symbol": m.exchange_id, "brackets": [bracket]} for m in self.markets if m.swap]

    def set_leverage(self, request: Recorded) -> dict[str, Any]:
        market = self.market_of(request, swap=True)
        leverage = int(request.fields["leverage"])
        self.leverage[market.symbol] = leverage
        return {"leverage": leverage, "maxNotionalValue": "1000000", "symbol": market.exchange_id}

    def set_margin_type(self, request: Recorded) -> dict[str, Any]:
        market = self.market_of(request, swap=True)
        mode = request.fields["marginType"]
        if self.margin_modes.get(market.symbol, "CROSSED") == mode:
            raise self.error(400, -4046, "No need to change margin type.")
        self.margin_modes[market.symbol] = mode
        return {"code": 200, "msg": "success"}


# --- OKX -----------------------------------------------------------------------------------------------------


class FakeOkx(FakeVenue):
    """OKX's ``/api/v5``: public instruments and market data, account, trade (plain and algo orders)."""

    name = "okx"
    markets = (
        FakeMarket(
            "BTC/USDT", "BTC-USDT", "BTC", "USDT", False, Decimal("0.00000001"), Decimal("0.1"), Decimal("0.00001")
        ),
        FakeMarket(
            "ETH/USDT", "ETH-USDT", "ETH", "USDT", False, Decimal("0.000001"), Decimal("0.01"), Decimal("0.001")
        ),
        FakeMarket(
            "BTC/USDT:USDT",
            "BTC-USDT-SWAP",
            "BTC",
            "USDT",
            True,
            Decimal("0.01"),
            Decimal("0.1"),
            Decimal("0.01"),
            contract_size=Decimal("0.01"),
        ),
    )
    create_paths = ("/api/v5/trade/batch-orders", "/api/v5/trade/order", "/api/v5/trade/order-algo")
    public_prefixes = ("/api/v5/public/", "/api/v5/market/")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(passphrase=kwargs.pop("passphrase", PASSPHRASE), **kwargs)
        self.demo = False  # True: private requests must carry x-simulated-trading: 1

    def routes(self) -> dict[tuple[str, str], Callable[[Recorded], Any]]:
        return {
            ("GET", "/api/v5/public/instruments"): self.instruments,
            ("GET", "/api/v5/public/time"): lambda r: ok([{"ts": str(now_ms())}]),
            ("GET", "/api/v5/market/ticker"): self.ticker,
            ("GET", "/api/v5/market/candles"): self.candles,
            ("GET", "/api/v5/market/history-candles"): self.candles,
            ("GET", "/api/v5/account/balance"): self.balance,
            ("GET", "/api/v5/account/config"): self.config,
            ("GET", "/api/v5/account/positions"): self.get_positions,
            ("POST", "/api/v5/account/set-leverage"): self.set_leverage,
            ("POST", "/api/v5/trade/batch-orders"): self.batch_orders,
            ("POST", "/api/v5/trade/order"): lambda r: self.place_orders([r.body]),
            ("POST", "/api/v5/trade/order-algo"): self.algo_order,
            ("GET", "/api/v5/trade/order"): lambda r: ok([self.render(self.polled(self.lookup(r.fields, algo=False)))]),
            ("GET", "/api/v5/trade/order-algo"): lambda r: ok([self.render_algo(self.lookup(r.fields, algo=True))]),
            ("GET", "/api/v5/trade/orders-pending"): lambda r: self.pending(r, algo=False),
            ("GET", "/api/v5/trade/orders-algo-pending"): lambda r: self.pending(r, algo=True),
            ("POST", "/api/v5/trade/cancel-order"): self.cancel,
            ("POST", "/api/v5/trade/cancel-algos"): self.cancel_algos,
        }

    @staticmethod
    def error(code: str, msg: str, status: int = 200) -> Refused:
        return Refused(status, {"code": code, "data": [], "msg": msg})

    @staticmethod
    def rejected(code: str, msg: str, **ids: str) -> Refused:
        """A refused order: OKX answers HTTP 200 with code 1 and the reason per order."""
        return Refused(
            200, {"code": "1", "data": [{**ids, "sCode": code, "sMsg": msg}], "msg": "All operations failed"}
        )

    def too_many_requests(self) -> Reply:
        return Reply(429, {"msg": "Too Many Requests", "code": "50011"})

    def not_found(self, path: str) -> Reply:
        return Reply(404, {"msg": f"fake okx does not serve {path}", "code": "50000"})

    def authenticate(self, request: Recorded, raw_query: str, raw_body: str, target: str) -> None:
        if self.reject_keys or request.header("OK-ACCESS-KEY") != self.api_key:
            raise self.error("50111", "Invalid OK-ACCESS-KEY", 401)
        if request.header("OK-ACCESS-PASSPHRASE") != self.passphrase:
            raise self.error("50105", "OK-ACCESS-PASSPHRASE incorrect.", 401)
        stamp = request.header("OK-ACCESS-TIMESTAMP") or ""
        prehash = stamp + request.method + target + raw_body
        expected = base64.b64encode(hmac.new(self.secret.encode(), prehash.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, request.header("OK-ACCESS-SIGN") or ""):
            raise self.error("50113", "Invalid Sign", 401)
        try:
            sent = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise self.error("50112", "Invalid OK-ACCESS-TIMESTAMP", 401) from None
        if abs(time.time() - sent) > 30:
            raise self.error("50102", "Timestamp request expired", 401)
        if self.demo != (request.header("x-simulated-trading") == "1"):
            raise self.error("50101", "APIKey does not match current environment.", 401)

    def market_for(self, inst_id: str | None) -> FakeMarket:
        market = self.market_by_id(inst_id)
        if market is None:
            raise self.error("51001", "Instrument ID does not exist.")
        return market

    # public
    def instruments(self, request: Recorded) -> dict[str, Any]:
        swap = request.fields.get("instType") == "SWAP"
        data = []
        for m in self.markets:
            if m.swap != swap or m.symbol in self.delisted:
                continue
            entry = {
                "instType": "SWAP" if swap else "SPOT",
                "instId": m.exchange_id,
                "baseCcy": "" if swap else m.base,
                "quoteCcy": "" if swap else m.quote,
                "settleCcy": m.quote if swap else "",
                "ctVal": text(m.contract_size) if swap else "",
                "ctValCcy": m.base if swap else "",
                "ctType": "linear" if swap else "",
                "uly": f"{m.base}-{m.quote}" if swap else "",
                "instFamily": f"{m.base}-{m.quote}" if swap else "",
                "lotSz": text(m.amount_step),
                "minSz": text(m.min_amount),
                "tickSz": text(m.price_step),
                "lever": "100" if swap else "10",
                "state": "live",
                "listTime": "1548133413000",
            }
            data.append(entry)
        return ok(data)

    def ticker(self, request: Recorded) -> dict[str, Any]:
        market = self.market_for(request.fields.get("instId"))
        price = self.price(market)
        return ok(
            [
                {
                    "instType": "SWAP" if market.swap else "SPOT",
                    "instId": market.exchange_id,
                    "last": text(price),
                    "bidPx": text(price - market.price_step),
                    "askPx": text(price + market.price_step),
                    "open24h": text(price),
                    "high24h": text(price),
                    "low24h": text(price),
                    "vol24h": "100",
                    "volCcy24h": text(price * 100),
                    "ts": str(now_ms()),
                }
            ]
        )

    def candles(self, request: Recorded) -> dict[str, Any]:
        market = self.market_for(request.fields.get("instId"))
        price = text(self.price(market))
        hour = 3_600_000
        start = now_ms() // hour * hour - 2 * hour
        rows = [[str(start + i * hour), price, price, price, price, "1", "1", price, "1"] for i in range(3)]
        return ok(list(reversed(rows)))

    # account
    def balance(self, request: Recorded) -> dict[str, Any]:
        details = [
            {"ccy": a, "eq": text(v), "availEq": text(v), "availBal": text(v), "frozenBal": "0", "cashBal": text(v)}
            for a, v in self.balances.items()
        ]
        return ok([{"uTime": str(now_ms()), "totalEq": text(self.balances["USDT"]), "details": details}])

    def config(self, request: Recorded) -> dict[str, Any]:
        perms = (
            ["read_only"]
            + (["trade"] if self.permissions["trade"] else [])
            + (["withdraw"] if self.permissions["withdraw"] else [])
        )
        return ok(
            [
                {
                    "uid": "1",
                    "acctLv": "2",
                    "posMode": "net_mode",
                    "perm": ",".join(perms),
                    "ip": "203.0.113.7" if self.permissions["ip_restricted"] else "",
                    "label": "trendy",
                }
            ]
        )

    def get_positions(self, request: Recorded) -> dict[str, Any]:
        data = []
        for symbol, p in self.positions.items():
            market = next(m for m in self.markets if m.symbol == symbol)
            mark = self.price(market)
            leverage = self.leverage.get(symbol, 10)
            margin = abs(p.amount) * p.entry / leverage
            liquidation = (
                p.entry * (1 - Decimal(1) / leverage) if p.amount > 0 else p.entry * (1 + Decimal(1) / leverage)
            )
            data.append(
                {
                    "instType": "SWAP",
                    "instId": market.exchange_id,
                    "mgnMode": "isolated",
                    "posId": f"pos{market.exchange_id}",
                    "posSide": "net",
                    "pos": text(p.amount / market.contract_size),
                    "avgPx": text(p.entry),
                    "upl": text(p.amount * (mark - p.entry)),
                    "uplRatio": "0",
                    "lever": str(leverage),
                    "liqPx": text(liquidation),
                    "markPx": text(mark),
                    "margin": text(margin),
                    "imr": "",
                    "mmr": text(abs(p.amount) * mark * Decimal("0.004")),
                    "notionalUsd": text(abs(p.amount) * mark),
                    "cTime": str(p.opened_ms),
                    "uTime": str(p.opened_ms),
                }
            )
        return ok(data)

    def set_leverage(self, request: Recorded) -> dict[str, Any]:
        fields = request.fields
        market = self.market_for(fields.get("instId"))
        self.leverage[market.symbol] = int(fields["lever"])
        self.margin_modes[market.symbol] = fields["mgnMode"]
        return ok(
            [
                {
                    "lever": str(fields["lever"]),
                    "mgnMode": fields["mgnMode"],
                    "instId": market.exchange_id,
                    "posSide": "net",
                }
            ]
        )

    # orders
    def batch_orders(self, request: Recorded) -> dict[str, Any]:
        return self.place_orders(request.body if isinstance(request.body, list) else [request.body])

    def check(self, market: FakeMarket, size: Decimal, client_id: str, price: Decimal | None = None) -> None:
        ids = {"clOrdId": client_id, "ordId": ""}
        if size < market.min_amount:
            raise self.rejected("51020", "Your order should meet or exceed the minimum order amount.", **ids)
        if size % market.amount_step:
            raise self.rejected("51121", "Order quantity must be a multiple of the lot size.", **ids)
        if price is not None and price % market.price_step:
            raise self.rejected("51006", "Order price is not within the price limit.", **ids)

    def place_orders(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        results = []
        for entry in entries:
            market = self.market_for(entry.get("instId"))
            client_id = entry.get("clOrdId") or f"fake{self.next_id()}"
            ids = {"clOrdId": client_id, "ordId": ""}
            if any(o.client_id == client_id and not o.algo for o in self.orders):
                raise self.rejected("51016", "Duplicated clOrdId", **ids)
            if entry.get("ordType") not in ("market", "limit"):
                raise self.rejected("51000", "Parameter ordType error", **ids)
            if market.swap and entry.get("tdMode") not in ("isolated", "cross"):
                raise self.rejected("51000", "Parameter tdMode error", **ids)
            if not market.swap and entry.get("tdMode") != "cash":
                raise self.rejected("51000", "Parameter tdMode error", **ids)
            size = Decimal(str(entry["sz"]))
            price = Decimal(str(entry["px"])) if entry.get("px") not in (None, "") else None
            self.check(market, size, client_id, price)
            order = FakeOrder(
                self.next_id(),
                client_id,
                market,
                entry["side"],
                entry["ordType"],
                size,
                price,
                reduce_only=str(entry.get("reduceOnly", "")).lower() == "true",
            )
            if order.reduce_only and not self.reduces(order):
                msg = "Order failed because you don't have any positions in this direction to reduce or close."
                raise self.rejected("51169", msg, **ids)
            if self.funds_missing(order, price or self.price(market)):
                raise self.rejected("51008", f"Order failed. Insufficient {market.quote} balance in account.", **ids)
            self.place(order)
            results.append(
                {
                    "clOrdId": client_id,
                    "ordId": order.id,
                    "tag": "",
                    "ts": str(now_ms()),
                    "sCode": "0",
                    "sMsg": "Order placed",
                }
            )
        return ok(results)

    def algo_order(self, request: Recorded) -> dict[str, Any]:
        entry = request.body if isinstance(request.body, dict) else {}
        market = self.market_for(entry.get("instId"))
        client_id = entry.get("algoClOrdId") or f"fake{self.next_id()}"
        ids = {"algoClOrdId": client_id, "algoId": ""}
        if any(o.client_id == client_id and o.algo for o in self.orders):
            raise self.rejected("51065", "algoClOrdId already exists.", **ids)
        if entry.get("ordType") != "conditional":
            raise self.rejected("51000", "Parameter ordType error", **ids)
        stop, target = entry.get("slTriggerPx"), entry.get("tpTriggerPx")
        if bool(stop) == bool(target):
            raise self.rejected("51000", "Parameter slTriggerPx error", **ids)
        size = Decimal(str(entry["sz"]))
        self.check(market, size, client_id, Decimal(str(stop or target)))
        order = FakeOrder(
            self.next_id(),
            client_id,
            market,
            entry["side"],
            "stop_market" if stop else "take_profit",
            size,
            None,
            Decimal(str(stop or target)),
            reduce_only=str(entry.get("reduceOnly", "")).lower() == "true",
            algo=True,
        )
        if order.reduce_only and not self.reduces(order):
            raise self.rejected("51169", "Order failed because you don't have any positions to reduce.", **ids)
        self.orders.append(order)
        return ok(
            [
                {
                    "algoId": order.id,
                    "algoClOrdId": client_id,
                    "clOrdId": entry.get("clOrdId", ""),
                    "sCode": "0",
                    "sMsg": "",
                    "tag": "",
                }
            ]
        )

    def lookup(self, fields: dict[str, Any], *, algo: bool) -> FakeOrder:
        order = self.find(
            order_id=fields.get("algoId" if algo else "ordId"),
            client_id=fields.get("algoClOrdId" if algo else "clOrdId"),
            algo=algo,
        )
        if fields.get("instId"):
            self.market_for(fields["instId"])
        if order is None or (fields.get("instId") and order.market.exchange_id != fields["instId"]):
            raise self.error("51603", "Order does not exist")
        return order

    def polled(self, order: FakeOrder) -> FakeOrder:
        self.advance(order)
        return order

    def render(self, order: FakeOrder) -> dict[str, Any]:
        market = order.market
        states = {"open": "partially_filled" if order.filled else "live", "filled": "filled", "canceled": "canceled"}
        return {
            "instType": "SWAP" if market.swap else "SPOT",
            "instId": market.exchange_id,
            "tgtCcy": "" if market.swap else "base_ccy",
            "ordId": order.id,
            "clOrdId": order.client_id,
            "tag": "",
            "px": text(order.price),
            "sz": text(order.amount),
            "ordType": order.type,
            "side": order.side,
            "posSide": "net",
            "tdMode": self.margin_modes.get(market.symbol, "isolated") if market.swap else "cash",
            "accFillSz": text(order.filled),
            "avgPx": text(order.average),
            "state": states[order.status],
            "lever": str(self.leverage.get(market.symbol, "")) if market.swap else "",
            "fee": text(-order.fee),
            "feeCcy": market.quote,
            "reduceOnly": "true" if order.reduce_only else "false",
            "cancelSource": "",
            "fillTime": str(order.updated_ms) if order.status == "filled" else "",
            "uTime": str(order.updated_ms),
            "cTime": str(order.created_ms),
        }

    def render_algo(self, order: FakeOrder) -> dict[str, Any]:
        market = order.market
        states = {"open": "live", "filled": "effective", "canceled": "canceled"}
        stop = order.type == "stop_market"
        return {
            "instType": "SWAP" if market.swap else "SPOT",
            "instId": market.exchange_id,
            "algoId": order.id,
            "algoClOrdId": order.client_id,
            "clOrdId": "",
            "ordId": "",
            "ordIdList": [],
            "sz": text(order.amount),
            "ordType": "conditional",
            "side": order.side,
            "posSide": "net",
            "tdMode": "isolated" if market.swap else "cross",
            "state": states[order.status],
            "slTriggerPx": text(order.trigger) if stop else "",
            "slOrdPx": "-1" if stop else "",
            "slTriggerPxType": "last" if stop else "",
            "tpTriggerPx": "" if stop else text(order.trigger),
            "tpOrdPx": "" if stop else "-1",
            "tpTriggerPxType": "" if stop else "last",
            "triggerPx": "",
            "ordPx": "",
            "actualSz": text(order.filled) if order.status == "filled" else "",
            "actualPx": text(order.average) if order.status == "filled" else "",
            "reduceOnly": "true" if order.reduce_only else "false",
            "cTime": str(order.created_ms),
            "uTime": str(order.updated_ms),
        }

    def pending(self, request: Recorded, *, algo: bool) -> dict[str, Any]:
        fields = request.fields
        if algo and fields.get("ordType") not in (
            "conditional",
            "oco",
            "trigger",
            "move_order_stop",
            "iceberg",
            "twap",
        ):
            raise self.error("51000", "Parameter ordType error")
        chosen = [
            o
            for o in self.orders
            if o.status == "open" and o.algo == algo and fields.get("instId") in (None, o.market.exchange_id)
        ]
        return ok([self.render_algo(o) if algo else self.render(o) for o in chosen])

    def cancel(self, request: Recorded) -> dict[str, Any]:
        fields = request.fields
        try:
            order = self.lookup(fields, algo=False)
        except Refused:
            raise self.rejected(
                "51400",
                "Order cancellation failed as the order has been filled, canceled or does not exist.",
                clOrdId=fields.get("clOrdId", ""),
                ordId=fields.get("ordId", ""),
            ) from None
        if order.status != "open":
            raise self.rejected(
                "51400",
                "Order cancellation failed as the order has been filled, canceled or does not exist.",
                clOrdId=order.client_id,
                ordId=order.id,
            )
        order.status, order.updated_ms = "canceled", now_ms()
        return ok([{"clOrdId": order.client_id, "ordId": order.id, "sCode": "0", "sMsg": ""}])

    def cancel_algos(self, request: Recorded) -> dict[str, Any]:
        results = []
        for entry in request.body if isinstance(request.body, list) else []:
            try:
                order = self.lookup(entry, algo=True)
            except Refused:
                raise self.rejected(
                    "51400", "Cancellation failed as the order does not exist.", algoId=entry.get("algoId", "")
                ) from None
            if order.status != "open":
                raise self.rejected("51400", "Cancellation failed as the order does not exist.", algoId=order.id)
            order.status, order.updated_ms = "canceled", now_ms()
            results.append({"algoId": order.id, "algoClOrdId": order.client_id, "sCode": "0", "sMsg": ""})
        return ok(results)


def ok(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "data": data, "msg": ""}


# --- the server ----------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a delayed answer must not hold up the test's teardown


def _handler(fake: FakeVenue) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length).decode() if length else ""
            reply = fake.handle(self.command, self.path, raw_body, dict(self.headers.items()))
            if reply is DROP:  # the connection is cut with no answer
                self.close_connection = True
                return
            is_text = isinstance(reply.body, str)
            data = reply.body.encode() if is_text else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/html" if is_text else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a time-out test)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(fake: FakeVenue, monkeypatch: Any) -> Iterator[FakeVenue]:
    """Run ``fake`` on 127.0.0.1; while it runs, resolving any other host name fails the test."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host) not in LOOPBACK:
            raise OSError(f"the test tried to reach {host}: only 127.0.0.1 is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    server = _Server(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
