"""The ccxt adapter (pure: no Django): one generic class for any ccxt exchange, plus per-venue settings.

This module and ``market_data.ccxt_client`` are the only ones that import ccxt. At this boundary:

- every ccxt error becomes one of ours (``errors``), with a one-line message that never carries the
  API key, the secret, the passphrase or a signed query string;
- reads are retried on ``TemporaryError`` with exponential backoff; ``create_order`` and
  ``cancel_order`` never are (after a time-out, ``submit.submit_order`` looks the order up by its
  client order id before it sends anything again);
- amounts and prices are rounded to the market's steps, and the minimum amount and notional are
  checked before an order is sent.

What differs between exchanges lives in ``VENUES`` (Binance, OKX); any other ccxt id runs on the
generic default, with capabilities read from ccxt's ``has``.

Why this file is long: one class is the whole ccxt boundary (error mapping, retries, rounding, venue quirks);
split, the rules that must hold for every call would be spread over modules that each see part of them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar, cast
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import ccxt

from .base import (
    MARKET_TYPES,
    ORDER_TYPES,
    SIDES,
    ZERO,
    Balance,
    Capabilities,
    KeyPermissions,
    Market,
    OrderRequest,
    OrderState,
    PositionState,
    Ticker,
)
from .errors import (
    AuthenticationError,
    CredentialsUnusable,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    RequestTimeout,
    TemporaryError,
    UnknownSymbol,
)

DEFAULT_TIMEOUT_MS = 10_000
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
FILL_POLLS = (0.2, 0.4, 0.8, 1.6)  # waits before each look at a market order that came back partly filled
MARGIN_MODES = ("isolated", "cross")
_MAX_REASON = 240
_QUERY_RE = re.compile(r"([^\s?\"'<>]*/[^\s?\"'<>]*)\?[^\s\"'<>]+")  # a URL or path with its query
_STATUSES = {"open": "open", "closed": "closed", "canceled": "canceled", "rejected": "rejected", "expired": "expired"}

T = TypeVar("T")


@dataclass(frozen=True)
class Venue:
    """What one exchange needs beyond ccxt's unified API; the default fits any ccxt exchange."""

    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # ccxt options by market type, "*" for both
    fetch_currencies: bool = True  # False: skip the private currencies call on load_markets
    demo_testnet: frozenset[str] = frozenset()  # market types whose testnet is ccxt's demo trading
    split_trigger_orders: frozenset[str] = frozenset()  # market types where stops are kept apart from plain orders
    trigger_client_id_param: str = "clientOrderId"  # the param that carries our id on a stop/take-profit order
    open_trigger_params: dict[str, Any] = field(default_factory=dict)  # extra params listing open stops
    margin_mode_on_orders: bool = False  # the margin mode goes on every swap order (OKX tdMode)
    margin_mode_call: bool = False  # the margin mode is set per symbol before the leverage (Binance)
    permissions: str = ""  # which key-permission reader applies ("binance", "okx"); "" = the exchange does not say
    permissions_on_testnet: bool = True
    capabilities: dict[str, bool] = field(default_factory=dict)  # overrides of the capabilities read from ccxt

    def ccxt_options(self, market_type: str) -> dict[str, Any]:
        return {**self.options.get("*", {}), **self.options.get(market_type, {})}


GENERIC = Venue()
VENUES: dict[str, Venue] = {
    "binance": Venue(
        options={
            "*": {
                "fetchMargins": False,
                "fetchOpenOrders": {"warnWithoutSymbol": False},
                "setMarginMode": {"throwMarginModeAlreadySet": False},
            },
            "spot": {"fetchMarkets": {"types": ["spot"]}},
            "swap": {"fetchMarkets": {"types": ["linear"]}},
        },
        fetch_currencies=False,
        demo_testnet=frozenset({"swap"}),  # ccxt refuses Binance's futures testnet; demo trading replaced it
        split_trigger_orders=frozenset({"swap"}),  # USDT-M stops are algo orders (/fapi/v1/algoOrder)
        margin_mode_call=True,
        permissions="binance",
        permissions_on_testnet=False,  # the spot testnet has no /sapi
    ),
    "okx": Venue(
        options={"spot": {"fetchMarkets": {"types": ["spot"]}}, "swap": {"fetchMarkets": {"types": ["swap"]}}},
        fetch_currencies=False,
        split_trigger_orders=frozenset({"spot", "swap"}),  # stops are algo orders (/api/v5/trade/order-algo)
        trigger_client_id_param="algoClOrdId",
        open_trigger_params={"ordType": "conditional"},
        margin_mode_on_orders=True,
        permissions="okx",
    ),
}


def _dec(value: Any) -> Decimal | None:
    """A ccxt number (float, str or None) as a finite Decimal, or None."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        return None
    if not number.is_finite():
        return None
    number = number.normalize()  # 5.0 → 5, 0.0012300 → 0.00123
    # A finite Decimal's exponent is an int (the letters are for NaN, sNaN and Infinity).
    return number.quantize(Decimal(1)) if cast(int, number.as_tuple().exponent) > 0 else number  # 1E+2 → 100


def _positive(value: Any) -> Decimal | None:
    number = _dec(value)
    return number if number is not None and number > 0 else None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _rebase(urls: Any, base: str) -> Any:
    """ccxt API URLs (a string or nested dicts) with scheme and host replaced by ``base``; paths are kept.
    An empty ``base`` keeps them as they are."""
    if not base:
        return urls
    if isinstance(urls, dict):
        return {key: _rebase(value, base) for key, value in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        target = urlsplit(base)
        return urlunsplit((target.scheme, target.netloc, target.path.rstrip("/") + urlsplit(urls).path, "", ""))
    return urls


def _url_pairs(local: Any, real: Any) -> Iterator[tuple[str, str]]:
    if isinstance(local, dict) and isinstance(real, dict):
        for key, value in local.items():
            yield from _url_pairs(value, real.get(key))
    elif isinstance(local, str) and isinstance(real, str) and local != real and "{" not in real:
        yield local, real


class CcxtExchange:
    """Any ccxt exchange behind the ``Exchange`` protocol, for one market type (spot or USDT-margined swap).

    ``api_urls`` sends API calls elsewhere: ``{"*": "http://127.0.0.1:8123"}`` rebases every entry of
    ccxt's ``urls['api']`` (paths are kept), a key such as ``"fapiPublic"`` rebases that entry only.
    ``rate_limit_ms`` overrides ccxt's spacing between requests (rate limiting itself stays on).
    ``margin_mode`` (swap): ``"isolated"`` (the backtest's model), ``"cross"``, or None to leave the
    account as it is. ``observer`` hears how each request went (``ok``, ``error``, ``down``): the metrics.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        api_key: str = "",
        secret: str = "",
        passphrase: str = "",
        testnet: bool = False,
        market_type: str = "spot",
        api_urls: dict[str, str] | None = None,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        rate_limit_ms: float | None = None,
        margin_mode: str | None = "isolated",
        sleep: Callable[[float], None] = time.sleep,
        observer: Callable[[str], None] | None = None,
    ) -> None:
        if exchange_id not in ccxt.exchanges:
            raise ExchangeError(f"ccxt does not know the exchange {exchange_id!r}.", code="unknown_exchange")
        if market_type not in MARKET_TYPES:
            raise ExchangeError(f"Unknown market type {market_type!r}: use spot or swap.", code="market_type")
        if margin_mode is not None and margin_mode not in MARGIN_MODES:
            raise ExchangeError(f"Unknown margin mode {margin_mode!r}: use isolated or cross.", code="margin_mode")
        self.id = exchange_id
        self.market_type = market_type
        self.testnet = testnet
        self.margin_mode = margin_mode
        self.retries = max(0, int(retries))
        self.backoff_s = backoff_s
        self.venue = VENUES.get(exchange_id, GENERIC)
        self._sleep = sleep
        self._observer: Callable[[str], None] | None = None  # set below: setting up the client is no request
        self._secrets = tuple(sorted({s for s in (api_key, secret, passphrase) if s}, key=len, reverse=True))
        if self._unsendable():  # keys stored before they were checked: fail before any request, as the keys' fault
            raise self._encoding_error("set up the client")
        self._markets: dict[str, Market] | None = None
        config = {
            "apiKey": api_key,
            "secret": secret,
            "password": passphrase,
            "enableRateLimit": True,
            "timeout": int(timeout_ms),
            "options": {"defaultType": market_type, **self.venue.ccxt_options(market_type)},
        }
        with self._translated("set up the client"):
            client = getattr(ccxt, exchange_id)(config)
            if not self.venue.fetch_currencies:
                client.has["fetchCurrencies"] = False
            if testnet and market_type in self.venue.demo_testnet:
                client.enable_demo_trading(True)
            elif testnet:
                client.set_sandbox_mode(True)
        if rate_limit_ms is not None:
            client.rateLimit = rate_limit_ms
        self.client = client
        if api_urls:
            self._point_at(api_urls)
        self.capabilities = self._capabilities()
        self._observer = observer

    # --- set-up ------------------------------------------------------------------------------------
    def _point_at(self, api_urls: dict[str, str]) -> None:
        for base in api_urls.values():
            parts = urlsplit(base)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ExchangeError(f"The API URL {base!r} must look like https://host[:port].", code="api_url")
        real = self.client.urls["api"]
        default = api_urls.get("*")
        if isinstance(real, dict):
            local = {key: _rebase(value, api_urls.get(key, default) or "") for key, value in real.items()}
        else:
            local = _rebase(real, default or "")
        self.client.urls["api"] = local
        self._keep_error_tables(sorted(_url_pairs(local, real), key=lambda pair: -len(pair[0])))

    def _keep_error_tables(self, pairs: list[tuple[str, str]]) -> None:
        """ccxt picks some error tables by the API host (Binance spot vs futures): show it the real one."""
        if not pairs:
            return
        handle = self.client.handle_errors

        def handle_errors(code: Any, reason: Any, url: Any, *rest: Any) -> Any:
            for local, real in pairs:
                if isinstance(url, str) and url.startswith(local):
                    url = real + url[len(local) :]
                    break
            return handle(code, reason, url, *rest)

        self.client.handle_errors = handle_errors

    def _capabilities(self) -> Capabilities:
        has = self.client.has
        swap = self.market_type == "swap"
        capabilities = Capabilities(
            stop_orders=bool(has.get("createStopLossOrder")),
            take_profit_orders=bool(has.get("createTakeProfitOrder")),
            reduce_only=swap and bool(has.get("createReduceOnlyOrder")),
            positions=swap and bool(has.get("fetchPositions")),
            set_leverage=swap and bool(has.get("setLeverage")),
            client_order_id=True,
            key_permissions=bool(self.venue.permissions) and (self.venue.permissions_on_testnet or not self.testnet),
        )
        return replace(capabilities, **self.venue.capabilities)

    @property
    def _split_triggers(self) -> bool:
        return self.market_type in self.venue.split_trigger_orders

    # --- errors and retries ------------------------------------------------------------------------
    def _clean(self, text: str) -> str:
        """One line without the keys, the passphrase or query strings (signatures, timestamps)."""
        for secret in self._secrets:
            for form in {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}:
                text = text.replace(form, "***")
        text = _QUERY_RE.sub(r"\1?…", text)
        text = " ".join(text.split())
        return text[:_MAX_REASON] + ("…" if len(text) > _MAX_REASON else "")

    def _reason(self, exc: Exception) -> tuple[str, str]:
        """The exchange's own message and code when ccxt's message carries its JSON answer."""
        text = str(exc)
        start = text.find("{")
        if start >= 0:
            try:
                body, _ = json.JSONDecoder().raw_decode(text[start:])
            except ValueError:
                body = None
            if isinstance(body, dict):
                message, code = body.get("msg") or body.get("message") or "", body.get("code", "")
                for item in body.get("data") or []:
                    if isinstance(item, dict) and item.get("sCode") not in (None, "", "0"):
                        message, code = item.get("sMsg") or message, item["sCode"]
                        break
                if message or code:
                    return self._clean(str(message).strip() or f"error {code}"), str(code)
        if isinstance(exc, ccxt.RequestTimeout):
            return f"no answer within {getattr(getattr(self, 'client', None), 'timeout', '?')} ms", ""
        text = text.removeprefix(self.id).strip() or type(exc).__name__
        return self._clean(text), ""

    def _error(self, exc: Exception, action: str, *, order: bool = False) -> ExchangeError:
        reason, code = self._reason(exc)
        message = f"{self.id}: cannot {action}: {reason}"
        if isinstance(exc, ccxt.RequestTimeout):
            return RequestTimeout(message, code=code)
        if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
            return RateLimited(message, code=code, retry_after=self._retry_after())
        if isinstance(exc, ccxt.OperationFailed):  # network, maintenance, busy servers, unreadable answers
            return TemporaryError(message, code=code)
        if isinstance(exc, ccxt.AuthenticationError):  # PermissionDenied, AccountSuspended
            return AuthenticationError(message, code=code)
        if isinstance(exc, ccxt.InsufficientFunds):
            return InsufficientFunds(message, code=code)
        if isinstance(exc, ccxt.OrderNotFound):
            return OrderNotFound(message, code=code)
        if isinstance(exc, ccxt.BadSymbol):
            return UnknownSymbol(message, code=code)
        if isinstance(exc, ccxt.InvalidOrder):
            return InvalidOrder(message, code=code)
        if order and isinstance(exc, ccxt.BadRequest | ccxt.OperationRejected):
            return InvalidOrder(message, code=code)  # e.g. Binance -1013 "Filter failure: NOTIONAL"
        return ExchangeError(message, code=code)

    def _retry_after(self) -> float | None:
        headers = getattr(getattr(self, "client", None), "last_response_headers", None) or {}
        try:
            value = float(headers.get("Retry-After", ""))
        except (TypeError, ValueError):
            return None
        return value if value >= 0 else None

    @contextmanager
    def _translated(self, action: str, *, order: bool = False) -> Iterator[None]:
        """ccxt errors raised inside become ours; ``order``: a refused order is an ``InvalidOrder``."""
        try:
            yield
        except ExchangeError:
            raise
        except ccxt.BaseError as exc:
            # ``from None``: ccxt's own message holds the request URL and the raw answer.
            error = self._error(exc, action, order=order)
            self._observe("down" if isinstance(error, TemporaryError) else "error")
            raise error from None
        except UnicodeError:
            # Raised while building headers or signing; the exception holds the whole key: never chained.
            raise self._encoding_error(action) from None
        else:
            self._observe("ok")

    def _observe(self, outcome: str) -> None:
        """Tell the observer (the metrics) how a request went: ok, error (the exchange answered with a
        refusal) or down (no answer: network, time-out, 5xx, rate limit)."""
        if self._observer is not None:
            self._observer(outcome)

    def _unsendable(self) -> bool:
        """A key, secret or passphrase with a character outside printable ASCII (line breaks of a PEM key aside)."""
        return any(not all(" " <= c <= "~" or c in "\r\n" for c in s) for s in self._secrets)

    def _encoding_error(self, action: str) -> ExchangeError:
        if self._unsendable():
            return CredentialsUnusable(
                f"{self.id}: cannot {action}: the API key, secret or passphrase holds a character outside "
                "printable ASCII",
                code="credentials_encoding",
            )
        return ExchangeError(f"{self.id}: cannot {action}: the request cannot be encoded", code="encoding")

    def _read(self, action: str, call: Callable[[], T]) -> T:
        """A read (or an idempotent setting): retried on TemporaryError with exponential backoff."""
        for attempt in range(self.retries + 1):
            try:
                with self._translated(action):
                    return call()
            except TemporaryError as exc:
                if attempt >= self.retries:
                    raise
                wait = self.backoff_s * 2**attempt
                if isinstance(exc, RateLimited) and exc.retry_after:
                    wait = max(wait, exc.retry_after)
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- markets -----------------------------------------------------------------------------------
    def load_markets(self, reload: bool = False) -> dict[str, Market]:
        """This account's markets (spot, or USDT-margined perpetuals), loaded once unless ``reload``."""
        if self._markets is None or reload:
            raw = self._read("load the markets", lambda: self.client.load_markets(reload))
            markets = (self._market_of(entry) for entry in raw.values())
            self._markets = {m.symbol: m for m in markets if m is not None}
        return dict(self._markets)

    def _market_of(self, raw: dict[str, Any]) -> Market | None:
        if self.market_type == "spot" and not raw.get("spot"):
            return None
        if self.market_type == "swap" and not (raw.get("swap") and raw.get("linear")):
            return None
        precision = raw.get("precision") or {}
        limits = raw.get("limits") or {}
        return Market(
            symbol=raw["symbol"],
            base=raw["base"],
            quote=raw["quote"],
            type=self.market_type,
            exchange_symbol=str(raw.get("id") or ""),
            amount_step=self._step(precision.get("amount")),
            price_step=self._step(precision.get("price")),
            min_amount=_positive((limits.get("amount") or {}).get("min")) or ZERO,
            min_notional=_positive((limits.get("cost") or {}).get("min")) or ZERO,
            contract_size=(_positive(raw.get("contractSize")) or Decimal(1)) if raw.get("contract") else Decimal(1),
            active=raw.get("active") is not False,
        )

    def _step(self, precision: Any) -> Decimal:
        """ccxt's precision as a step: a tick size already (TICK_SIZE), or a number of decimals."""
        value = _positive(precision)
        if value is None:
            return ZERO
        if self.client.precisionMode == ccxt.TICK_SIZE:
            return value
        if self.client.precisionMode == ccxt.DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(value))
        return ZERO  # significant digits: no fixed step

    def market(self, symbol: str) -> Market:
        markets = self._markets if self._markets is not None else self.load_markets()
        try:
            return markets[symbol]
        except KeyError:
            raise UnknownSymbol(
                f"{self.id} does not list the {self.market_type} market {symbol}.", code="unknown_symbol"
            ) from None

    # --- reads -------------------------------------------------------------------------------------
    def fetch_balance(self) -> dict[str, Balance]:
        raw = self._read("fetch the balance", self.client.fetch_balance)
        balances = {}
        for asset, entry in raw.items():
            if asset in ("info", "free", "used", "total", "debt") or not isinstance(entry, dict):
                continue
            total, free, used = _dec(entry.get("total")), _dec(entry.get("free")), _dec(entry.get("used"))
            if total is None and free is None:
                continue
            if total is None:
                total = (free or ZERO) + (used or ZERO)
            free = free if free is not None else max(total - (used or ZERO), ZERO)
            used = used if used is not None else max(total - free, ZERO)
            balances[asset] = Balance(asset=asset, total=total, free=free, used=used)
        return balances

    def fetch_key_permissions(self) -> KeyPermissions:
        """What the key may do: Binance's API restrictions, OKX's account config; unknown elsewhere."""
        if not self.capabilities.key_permissions:
            return KeyPermissions()
        if self.venue.permissions == "binance":
            raw = self._read("read the key's permissions", self.client.sapi_get_account_apirestrictions)
            trade = raw.get("enableFutures") if self.market_type == "swap" else raw.get("enableSpotAndMarginTrading")
            return KeyPermissions(
                trade=_flag(trade),
                withdraw=_flag(raw.get("enableWithdrawals")),
                ip_restricted=_flag(raw.get("ipRestrict")),
            )
        if self.venue.permissions == "okx":
            raw = self._read("read the key's permissions", self.client.private_get_account_config)
            config = (raw.get("data") or [{}])[0]
            perms = {p.strip() for p in str(config.get("perm") or "").split(",")} if "perm" in config else None
            return KeyPermissions(
                trade=None if perms is None else "trade" in perms,
                withdraw=None if perms is None else "withdraw" in perms,
                ip_restricted=bool(config["ip"]) if "ip" in config else None,
            )
        return KeyPermissions()

    def fetch_ticker(self, symbol: str) -> Ticker:
        self.market(symbol)
        raw = self._read(f"fetch the {symbol} ticker", lambda: self.client.fetch_ticker(symbol))
        bid, ask = _positive(raw.get("bid")), _positive(raw.get("ask"))
        last = _positive(raw.get("last")) or _positive(raw.get("close"))
        if last is None and bid and ask:
            last = (bid + ask) / 2
        if last is None:
            raise ExchangeError(f"{self.id}: the {symbol} ticker has no price.", code="no_price")
        return Ticker(symbol=symbol, last=last, bid=bid, ask=ask, time_ms=raw.get("timestamp"))

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[list[float]]:
        self.market(symbol)
        rows = self._read(
            f"fetch {symbol} {timeframe} candles", lambda: self.client.fetch_ohlcv(symbol, timeframe, since_ms, limit)
        )
        return [[int(row[0]), *(float(v) for v in row[1:6])] for row in rows]

    def fetch_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderState:
        """By client order id when given, else by exchange id; stops kept apart (Binance swaps, OKX) are
        looked for after plain orders. ``OrderNotFound`` when neither has it."""
        self.market(symbol)
        _require_id(exchange_order_id, client_order_id)
        kinds = (False, True) if self._split_triggers else (False,)
        for trigger in kinds:
            try:
                raw = self._read(
                    "fetch the order",
                    # mypy cannot infer a lambda with a default argument (the loop variable bound, B023)
                    lambda trigger=trigger: self.client.fetch_order(  # type: ignore[misc]
                        exchange_order_id, symbol, self._id_params(client_order_id, trigger)
                    ),
                )
            except OrderNotFound:
                if trigger or not self._split_triggers:
                    raise
                continue
            if not raw or not (raw.get("id") or raw.get("clientOrderId")):
                if trigger or not self._split_triggers:
                    raise OrderNotFound(f"{self.id}: no such order on {symbol}.", code="not_found")
                continue
            state = self._order_state(raw, symbol=symbol, client_order_id=client_order_id)
            if self.market_type == "spot" and state.filled > 0 and not (raw.get("fee") or raw.get("fees")):
                state = replace(state, fee=self._trade_fees(state))
            return state
        raise OrderNotFound(f"{self.id}: no such order on {symbol}.", code="not_found")  # pragma: no cover

    def fetch_open_orders(self, symbol: str | None = None) -> list[OrderState]:
        """Resting orders of this account's market type, stops included."""
        if symbol is not None:
            self.market(symbol)
        else:
            self.load_markets()
        raw = self._read("fetch the open orders", lambda: self.client.fetch_open_orders(symbol))
        if self._split_triggers:
            params = {"trigger": True, **self.venue.open_trigger_params}
            raw = raw + self._read(
                "fetch the open stops", lambda: self.client.fetch_open_orders(symbol, None, None, params)
            )
        states = [self._order_state(entry, symbol=symbol) for entry in raw]
        return [s for s in states if self._markets is not None and s.symbol in self._markets]

    def fetch_positions(self, symbols: list[str] | None = None) -> list[PositionState]:
        """Open perpetual positions with amounts in base units (contracts × contract size); ``[]`` on spot."""
        if self.market_type != "swap":
            return []
        for symbol in symbols or []:
            self.market(symbol)
        if symbols is None:
            self.load_markets()
        raw = self._read("fetch the positions", lambda: self.client.fetch_positions(symbols))
        positions = []
        for entry in raw:
            market = (self._markets or {}).get(entry.get("symbol") or "")
            contracts = _positive(entry.get("contracts"))
            side = entry.get("side")
            if market is None or contracts is None or side not in ("long", "short"):
                continue
            if symbols is not None and market.symbol not in symbols:
                continue
            size = _positive(entry.get("contractSize")) or market.contract_size
            notional = _positive(entry.get("notional"))
            margin = _positive(entry.get("initialMargin")) or _positive(entry.get("collateral")) or ZERO
            leverage = _positive(entry.get("leverage"))
            if leverage is None and notional and margin:
                leverage = notional / margin  # Binance's v3 positionRisk carries no leverage
            positions.append(
                PositionState(
                    symbol=market.symbol,
                    side=side,
                    amount=contracts * size,
                    entry_price=_dec(entry.get("entryPrice")) or ZERO,
                    leverage=max(1, round(leverage)) if leverage else 1,
                    margin=margin,
                    liquidation_price=_positive(entry.get("liquidationPrice")),
                    unrealized_pnl=_dec(entry.get("unrealizedPnl")) or ZERO,
                    opened_ms=entry.get("timestamp"),
                )
            )
        return positions

    # --- writes ------------------------------------------------------------------------------------
    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Swap only; also sets the margin mode first where the exchange keeps it per symbol (Binance).
        Idempotent, so retried like a read."""
        self.market(symbol)
        if self.market_type != "swap":
            raise InvalidOrder(f"{self.id}: spot markets have no leverage.", code="leverage")
        if not 1 <= int(leverage) <= 125:
            raise InvalidOrder(f"Leverage {leverage} is outside 1-125.", code="leverage")
        params: dict[str, Any] = {}
        if self.margin_mode and self.venue.margin_mode_call:
            mode = self.margin_mode
            self._read("set the margin mode", lambda: self.client.set_margin_mode(mode, symbol))
        if self.margin_mode and self.venue.margin_mode_on_orders:
            params["marginMode"] = self.margin_mode
        self._read("set the leverage", lambda: self.client.set_leverage(int(leverage), symbol, params))

    def create_order(self, request: OrderRequest) -> OrderState:
        """Round, check, send once. Never retried: a ``RequestTimeout`` means the order may exist."""
        market = self.market(request.symbol)
        amount, price, trigger = self._checked(market, request)
        trigger_order = request.type in ("stop_market", "take_profit")
        params: dict[str, Any] = {}
        if trigger_order:
            params[self.venue.trigger_client_id_param] = request.client_order_id
            params["stopLossPrice" if request.type == "stop_market" else "takeProfitPrice"] = float(trigger or 0)
        else:
            params["clientOrderId"] = request.client_order_id
        if self.market_type == "swap":
            if request.reduce_only:
                params["reduceOnly"] = True
            if self.margin_mode and self.venue.margin_mode_on_orders:
                params["marginMode"] = self.margin_mode
        kind = "limit" if request.type == "limit" else "market"
        with self._translated("place the order", order=True):
            raw = self.client.create_order(
                request.symbol, kind, request.side, float(amount), float(price) if price is not None else None, params
            )
        sent = replace(request, amount=amount, price=price, trigger_price=trigger, reduce_only="reduceOnly" in params)
        state = self._order_state(raw, symbol=request.symbol, request=sent)
        if raw.get("status") is None or raw.get("amount") is None:  # a bare acknowledgement (OKX, algo orders)
            state = self._settled(state, trigger_order)
        if request.type == "market" and state.status == "open":
            state = self._filled(state)
        return state

    def _filled(self, state: OrderState) -> OrderState:
        """A market order that came back open (filled in pieces, or not yet): looked at again for a few
        seconds until it is filled, so that its position and its stops are set up at once. The last state read
        when it is still open then (the reconciler settles it later)."""
        for wait in FILL_POLLS:
            self._sleep(wait)
            try:
                later = self.fetch_order(
                    state.symbol,
                    exchange_order_id=state.exchange_order_id or None,
                    client_order_id=state.client_order_id or None,
                )
            except ExchangeError:
                continue
            state = replace(later, type=state.type, reduce_only=state.reduce_only or later.reduce_only)
            if state.status != "open":
                break
        return state

    def cancel_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderState:
        """Sent once, never retried; the canceled order is then read back for its full state."""
        self.market(symbol)
        _require_id(exchange_order_id, client_order_id)
        kinds = (False, True) if self._split_triggers else (False,)
        raw: dict[str, Any] = {}
        trigger = False
        for trigger in kinds:
            try:
                with self._translated("cancel the order"):
                    raw = self.client.cancel_order(exchange_order_id, symbol, self._id_params(client_order_id, trigger))
                break
            except OrderNotFound:
                if trigger or not self._split_triggers:
                    raise
        state = self._order_state(raw, symbol=symbol, client_order_id=client_order_id)
        if client_order_id:  # Binance answers a cancel with the cancel request's own client id
            state = replace(state, client_order_id=client_order_id)
        if not state.exchange_order_id and exchange_order_id:
            state = replace(state, exchange_order_id=exchange_order_id)
        if raw.get("status") not in ("canceled", "closed", "expired", "rejected"):
            state = replace(state, status="canceled")
        return self._settled(state, trigger)

    # --- helpers -----------------------------------------------------------------------------------
    def _checked(self, market: Market, request: OrderRequest) -> tuple[Decimal, Decimal | None, Decimal | None]:
        """Amount, price and trigger rounded to the market's steps; refuses what the exchange would."""
        if request.side not in SIDES:
            raise InvalidOrder(f"Unknown side {request.side!r}.", code="side")
        if request.type not in ORDER_TYPES:
            raise InvalidOrder(f"Unknown order type {request.type!r}.", code="type")
        if not request.client_order_id:
            raise InvalidOrder("A client order id is required.", code="client_order_id")
        amount = market.round_amount(Decimal(request.amount))
        if amount <= 0:
            raise InvalidOrder(
                f"The amount {request.amount} of {market.symbol} rounds to 0 at the size step {market.amount_step:f}.",
                code="amount_zero",
            )
        if amount < market.min_amount:
            raise InvalidOrder(
                f"The amount {amount:f} of {market.symbol} is below {self.id}'s minimum of {market.min_amount:f}.",
                code="min_amount",
            )
        price = trigger = None
        if request.type == "limit":
            if request.price is None or request.price <= 0:
                raise InvalidOrder("A limit order needs a price.", code="price")
            price = market.round_price(Decimal(request.price))
        if request.type in ("stop_market", "take_profit"):
            if request.trigger_price is None or request.trigger_price <= 0:
                raise InvalidOrder("A stop or take-profit order needs a trigger price.", code="trigger")
            trigger = market.round_price(Decimal(request.trigger_price))
        exempt = request.reduce_only and self.market_type == "swap"  # closing a position is exempt on futures
        if market.min_notional > 0 and not exempt:
            reference = price or trigger or self.fetch_ticker(market.symbol).last
            value = market.notional(amount, reference)
            if value < market.min_notional:
                raise InvalidOrder(
                    f"The order value {value:.2f} {market.quote} is below {self.id}'s minimum of "
                    f"{market.min_notional:f} {market.quote} for {market.symbol}.",
                    code="min_notional",
                )
        return amount, price, trigger

    def _id_params(self, client_order_id: str | None, trigger: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"trigger": True} if trigger else {}
        if client_order_id:
            params["clientOrderId"] = client_order_id
        return params

    def _settled(self, state: OrderState, trigger: bool) -> OrderState:
        """The order read back after a write whose answer was partial; the partial state if that fails."""
        by_client_id = None if state.exchange_order_id else state.client_order_id
        params = self._id_params(by_client_id, trigger and self._split_triggers)
        try:
            raw = self._read(
                "read the order back",
                lambda: self.client.fetch_order(state.exchange_order_id or None, state.symbol, params),
            )
        except ExchangeError:
            return state
        if not raw or not raw.get("id"):
            return state
        full = self._order_state(raw, symbol=state.symbol, client_order_id=state.client_order_id)
        if full.type == "market" and state.type in ("stop_market", "take_profit"):
            full = replace(full, type=state.type, trigger_price=full.trigger_price or state.trigger_price)
        return full

    def _order_state(
        self,
        raw: dict[str, Any],
        *,
        symbol: str | None = None,
        client_order_id: str | None = None,
        request: OrderRequest | None = None,
    ) -> OrderState:
        info = cast("dict[str, Any]", raw.get("info")) if isinstance(raw.get("info"), dict) else {}
        symbol = raw.get("symbol") or (request.symbol if request else symbol) or ""
        market = (self._markets or {}).get(symbol)
        take_profit, stop_loss = _positive(raw.get("takeProfitPrice")), _positive(raw.get("stopLossPrice"))
        trigger_price = _positive(raw.get("triggerPrice"))
        if request is not None:
            kind, trigger_price = request.type, request.trigger_price
        elif take_profit:
            kind, trigger_price = "take_profit", take_profit
        elif stop_loss or trigger_price:
            kind, trigger_price = "stop_market", stop_loss or trigger_price
        else:
            kind = cast(str, raw.get("type")) if raw.get("type") in ("market", "limit") else "market"
        amount = _dec(raw.get("amount")) or (request.amount if request else ZERO)
        filled = _dec(raw.get("filled")) or ZERO
        average = _positive(raw.get("average"))
        status = _STATUSES.get(raw.get("status") or "", "open")
        if status == "closed" and filled == 0 and kind in ("stop_market", "take_profit"):
            # A triggered stop: the fill is a separate order; the algo record tells its size and price.
            filled = _positive(info.get("actualSz")) or amount
            average = average or _positive(info.get("actualPx")) or _positive(info.get("actualPrice"))
        price = _positive(raw.get("price")) if kind == "limit" else None
        if request is not None and kind == "limit":
            price = request.price
        reduce_only = raw.get("reduceOnly")
        return OrderState(
            exchange_order_id=str(raw.get("id") or ""),
            client_order_id=str(
                raw.get("clientOrderId")
                or info.get("algoClOrdId")
                or info.get("clientAlgoId")
                or (request.client_order_id if request else client_order_id)
                or ""
            ),
            symbol=symbol,
            side=raw.get("side") or (request.side if request else ""),
            type=kind,
            status=status,
            amount=amount,
            filled=filled,
            average=average,
            fee=self._fee_in_quote(raw, market, average),
            price=price,
            trigger_price=trigger_price,
            reduce_only=bool(reduce_only) if reduce_only is not None else bool(request and request.reduce_only),
            timestamp_ms=raw.get("timestamp"),
            updated_ms=raw.get("lastUpdateTimestamp") or raw.get("lastTradeTimestamp"),
            reason=self._clean(str(info.get("sMsg") or info.get("msg") or "")) if status == "rejected" else "",
            info=info,
        )

    def _trade_fees(self, state: OrderState) -> Decimal:
        """A filled spot order's fees read from its trades, each once, for a status answer that carries none
        (Binance's): the same order then reads alike whether its create answer or a look-up told of its fill."""
        if not state.exchange_order_id or not self.client.has.get("fetchOrderTrades"):
            return state.fee
        try:
            trades = self._read(
                "fetch the order's trades",
                lambda: self.client.fetch_order_trades(state.exchange_order_id, state.symbol),
            )
        except ExchangeError:
            return state.fee
        return self._fee_in_quote({"trades": trades}, (self._markets or {}).get(state.symbol), state.average)

    def _fee_in_quote(self, raw: dict[str, Any], market: Market | None, average: Decimal | None) -> Decimal:
        """Fees in the quote currency: base-currency fees at the average price; others (BNB) are left out.
        When the answer lists the order's trades, the fees are theirs, each trade once (an exchange may report the
        same trade twice; ccxt would add its fee twice)."""
        trades = [t for t in raw.get("trades") or [] if isinstance(t, dict)]
        if trades:
            unique = {str(t.get("id")) if t.get("id") is not None else f"#{i}": t for i, t in enumerate(trades)}
            fees = []
            for trade in unique.values():
                listed = [f for f in trade.get("fees") or [] if isinstance(f, dict)]
                fees += listed or ([trade["fee"]] if isinstance(trade.get("fee"), dict) else [])
        else:
            fees = [f for f in raw.get("fees") or [] if isinstance(f, dict)]
        if not fees and isinstance(raw.get("fee"), dict):
            fees = [raw["fee"]]
        total = ZERO
        for fee in fees:
            cost = _dec(fee.get("cost"))
            if not cost:
                continue
            currency = fee.get("currency")
            if market is None or currency in (None, market.quote):
                total += cost
            elif currency == market.base and average:
                total += cost * average
        return total


def _require_id(exchange_order_id: str | None, client_order_id: str | None) -> None:
    if not exchange_order_id and not client_order_id:
        raise OrderNotFound("An exchange order id or a client order id is needed.", code="no_id")
