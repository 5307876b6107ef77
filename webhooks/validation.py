"""TradingView alerts: parse, check and normalise one request body (pure: no Django).

Trendy's alert format (DESIGN.md): a JSON object with ``secret``, ``action`` and ``symbol`` required,
``exchange``, ``price``, ``position``, ``size``, ``size_pct``, ``leverage``, ``stop_loss_pct``,
``take_profit_pct``, ``order_id``, ``time`` and ``bot`` optional; unknown keys are ignored; ``null`` is the
same as absent. TradingView sends the body as ``application/json`` when it parses and as ``text/plain``
otherwise: both are read. Every failure is an ``AlertError`` with a short code and a message.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

MAX_BODY_BYTES = 16 * 1024
ACTIONS = ("buy", "sell", "long", "short", "close", "close_long", "close_short")
POSITIONS = ("long", "short", "flat")
# TradingView's published webhook senders (https://www.tradingview.com/support/solutions/43000529348).
TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "USD", "BTC", "ETH", "BNB", "EUR", "TRY")
SECRET_KEYS = ("secret", "passphrase", "password", "token")
_SYMBOL = re.compile(r"^[A-Z0-9]{1,20}(/[A-Z0-9]{1,20})?(:[A-Z0-9]{1,20})?$")
_DECIMAL_FIELDS = ("price", "size", "size_pct", "leverage", "stop_loss_pct", "take_profit_pct")
# ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
_DIGITS = re.compile(r"[0-9]{1,18}")
# Numbers beyond this many digits either side of the point are nobody's price, size or leverage; refusing them
# at the door keeps a 1e5000 away from the integer conversions of the risk envelope.
_MAX_EXPONENT = 15
# Every number of an alert is above 0 and at most MAX_NUMBER, with at most MAX_DECIMAL_PLACES decimals (what
# the database's money columns hold: 40 digits, 18 of them decimals).
MAX_NUMBER = Decimal(10) ** 12
MAX_DECIMAL_PLACES = 18
# What the event log keeps of a request that did not authenticate: this many characters, secrets masked.
PREFIX_CHARS = 256
_SECRET_IN_JSON = re.compile(r'("(?:secret|passphrase|password|token)"\s*:\s*)"(?:[^"\\]|\\.)*"?', re.IGNORECASE)
_SECRET_IN_TEXT = re.compile(r"((?:secret|passphrase|password|token)\s*[=:]\s*)[^\s,;&}]+", re.IGNORECASE)
_SECRET_SHAPE = re.compile(r"whs_[A-Za-z0-9_\-]+")


class AlertError(ValueError):
    """``code`` names the refusal, ``message`` says it in English (the answer to TradingView and the API), and
    ``params`` holds its figures (the field, the value, the age…), so that a page can say it in the reader's
    language. ``status`` is the HTTP answer when the alert's schema refuses it (422 unless said)."""

    status = 422

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = params


class BadNumber(AlertError):
    """A number that no price, size or percentage can be (zero, negative, NaN, infinite, absurd): 400."""

    status = 400


@dataclass(frozen=True)
class Alert:
    action: str
    symbol: str  # as sent (BINANCE:BTCUSDT.P)
    market: str  # unified base/quote (BTC/USDT)
    perpetual: bool  # the symbol named a perpetual (.P or :USDT)
    position: str | None = None
    exchange: str | None = None
    price: Decimal | None = None
    size: Decimal | None = None
    size_pct: Decimal | None = None
    leverage: Decimal | None = None
    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None
    order_id: str | None = None
    time: datetime | None = None
    bot: int | None = None

    @property
    def target(self) -> str | None:
        """The position the alert asks for: ``long``, ``short``, ``flat``; None for "close only a long"
        style actions (see ``close_side``). With ``position`` present, the target position wins."""
        if self.position is not None:
            return self.position
        return {"buy": "long", "long": "long", "sell": "short", "short": "short", "close": "flat"}.get(self.action)

    @property
    def close_side(self) -> str | None:
        return {"close_long": "long", "close_short": "short"}.get(self.action)


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body`` (whatever the content type said); ``AlertError`` otherwise."""
    if not body or not body.strip():
        raise AlertError("empty", "The body is empty: send the alert message as JSON.")
    if len(body) > MAX_BODY_BYTES:
        raise AlertError(
            "too_large", f"The body is larger than {MAX_BODY_BYTES // 1024} KB.", kb=MAX_BODY_BYTES // 1024
        )
    fast = _parse_fast(body)
    if fast is not None:
        return fast
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise AlertError("encoding", "The body is not UTF-8 text.") from None
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise AlertError(
            "not_json",
            "The body is not JSON. In TradingView, put Trendy's JSON message in the alert's Message box "
            "(a plain-text message cannot be traded).",
        ) from None
    if not isinstance(data, dict):
        raise AlertError("not_object", "The JSON must be an object ({...}), not a list or a single value.")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(name)


# orjson reads an alert in about a microsecond; the standard library (with every fraction as a Decimal) is the
# reference. orjson's answer is used only when it is the same as the reference's would be: an object with no
# fraction anywhere (orjson reads fractions as floats), nested at most _FAST_NESTING deep (the standard library
# gives up on deep nesting sooner than orjson). Anything else (fractions, deep nesting, invalid UTF-8, a lone
# surrogate, NaN, integers beyond 64 bits, not JSON at all) is read again by the reference, which decides.
_FAST_NESTING = 64


def _parse_fast(body: bytes) -> dict[str, Any] | None:
    if body.count(b"{") + body.count(b"[") > _FAST_NESTING:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or _has_float(data):
        return None
    return data


def _has_float(value: Any) -> bool:
    items = value.values() if type(value) is dict else value
    for item in items:
        kind = type(item)
        if kind is float or ((kind is dict or kind is list) and _has_float(item)):
            return True
    return False


def secret_matches(given: object, expected: str) -> bool:
    """Constant-time comparison (``hmac.compare_digest``); a missing or non-text secret never matches."""
    if not isinstance(given, str) or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def redact(data: dict[str, Any]) -> dict[str, Any]:
    """The body as stored in the event log: the secret (and anything named like one) removed."""
    return {k: ("***" if k.lower() in SECRET_KEYS else v) for k, v in data.items()}


def _text(data: dict[str, Any], key: str, *, required: bool = False, limit: int = 64) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise AlertError("missing", f"'{key}' is required.", field=key)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise AlertError("bad_type", f"'{key}' must be text.", field=key, expected="text")
    value = str(value).strip()
    if not value:
        if required:
            raise AlertError("missing", f"'{key}' is required.", field=key)
        return None
    if len(value) > limit:
        raise AlertError(
            "bad_value", f"'{key}' is longer than {limit} characters.", field=key, problem="too_long", limit=limit
        )
    return value


def _decimal(data: dict[str, Any], key: str) -> Decimal | None:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise AlertError("bad_type", f"'{key}' must be a number.", field=key, expected="number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise AlertError(
            "bad_type", f"'{key}' must be a number, not {str(value)[:20]!r}.", field=key, expected="number"
        ) from None
    if not number.is_finite():
        raise BadNumber("bad_value", f"'{key}' must be a finite number.", field=key, problem="not_finite")
    if number <= 0:
        raise BadNumber("bad_value", f"'{key}' must be above 0.", field=key, problem="not_positive")
    if number > MAX_NUMBER:
        raise BadNumber(
            "bad_value", f"'{key}' must be at most {MAX_NUMBER:,.0f}.", field=key, problem="too_big", limit=MAX_NUMBER
        )
    if number.adjusted() < -_MAX_EXPONENT:
        raise BadNumber("bad_value", f"'{key}' is out of range.", field=key, problem="out_of_range")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES and number != round(number, MAX_DECIMAL_PLACES):
        raise BadNumber(
            "bad_value",
            f"'{key}' has more than {MAX_DECIMAL_PLACES} decimal places.",
            field=key,
            problem="too_precise",
            limit=MAX_DECIMAL_PLACES,
        )
    return number


def normalise_symbol(symbol: str) -> tuple[str, bool]:
    """``BTCUSDT``, ``BINANCE:BTCUSDT``, ``BTCUSDT.P``, ``BTC/USDT``, ``BTC/USDT:USDT`` → (``BTC/USDT``, perpetual)."""
    value = symbol.strip().upper()
    if ":" in value and "/" not in value.split(":", 1)[0]:
        value = value.split(":", 1)[1]  # BINANCE:BTCUSDT → BTCUSDT
    perpetual = False
    for suffix in (".P", ".PERP", "PERP"):
        if value.endswith(suffix) and len(value) > len(suffix) + 3:
            value, perpetual = value[: -len(suffix)], True
            break
    if ":" in value:  # BTC/USDT:USDT
        value, perpetual = value.split(":", 1)[0], True
    if not _SYMBOL.match(value):
        raise AlertError(
            "bad_symbol", f"{symbol[:32]!r} is not a market symbol (use BTCUSDT or BTC/USDT).", symbol=symbol[:32]
        )
    if "/" in value:
        return value, perpetual
    for quote in QUOTES:
        if value.endswith(quote) and len(value) > len(quote):
            return f"{value[: -len(quote)]}/{quote}", perpetual
    raise AlertError(
        "bad_symbol",
        f"{symbol[:32]!r}: the quote currency is not recognised (use BTC/USDT).",
        symbol=symbol[:32],
        problem="quote",
    )


def parse_time(value: object) -> datetime:
    """ISO-8601 (TradingView's ``{{timenow}}``: ``2024-03-01T12:00:05Z``) or epoch seconds/milliseconds."""
    if isinstance(value, bool):
        raise AlertError("bad_time", "'time' must be an ISO-8601 UTC time such as 2024-03-01T12:00:05Z.", field="time")
    if isinstance(value, int | float | Decimal) or (isinstance(value, str) and _DIGITS.fullmatch(value.strip())):
        number = float(value)
        if not math.isfinite(number):
            raise AlertError("bad_time", "'time' must be a finite number.", field="time")
        seconds = number / 1000 if number > 1e11 else number
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise AlertError("bad_time", "'time' is out of range.", field="time") from None
    if not isinstance(value, str):
        raise AlertError("bad_time", "'time' must be an ISO-8601 UTC time such as 2024-03-01T12:00:05Z.", field="time")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise AlertError("bad_time", f"'time' {value[:40]!r} is not an ISO-8601 time.", field="time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_alert(data: dict[str, Any]) -> Alert:
    """Schema: types, the action, the symbol, numbers. Does not look at the secret."""
    action = (_text(data, "action", required=True) or "").lower()
    if action not in ACTIONS:
        raise AlertError(
            "bad_action", f"Unknown action {action[:20]!r}; use one of: {', '.join(ACTIONS)}.", action=action[:20]
        )
    symbol = _text(data, "symbol", required=True) or ""
    market, perpetual = normalise_symbol(symbol)
    position = _text(data, "position")
    if position is not None:
        position = position.lower()
        if position not in POSITIONS:
            raise AlertError(
                "bad_position", f"Unknown position {position[:20]!r}; use long, short or flat.", position=position[:20]
            )
    numbers = {key: _decimal(data, key) for key in _DECIMAL_FIELDS}
    when = parse_time(data["time"]) if data.get("time") not in (None, "") else None
    bot = data.get("bot")
    if bot in (None, ""):
        bot_id = None
    else:
        if isinstance(bot, bool) or not isinstance(bot, int | str) or not _DIGITS.fullmatch(str(bot).strip()):
            raise AlertError("bad_type", "'bot' must be a bot id (a number).", field="bot", expected="bot")
        bot_id = int(str(bot).strip())
    return Alert(
        action=action,
        symbol=symbol,
        market=market,
        perpetual=perpetual,
        position=position,
        exchange=_text(data, "exchange"),
        order_id=_text(data, "order_id", limit=100),
        time=when,
        bot=bot_id,
        **numbers,
    )


def check_age(when: datetime | None, now: datetime, max_age_seconds: int) -> None:
    """Stale (older than ``max_age_seconds``) or from the future (beyond a 30 s clock skew): refused."""
    if when is None:
        return
    age = (now - when).total_seconds()
    if age > max_age_seconds:
        raise AlertError(
            "stale",
            f"The alert is {int(age)} s old; this endpoint accepts alerts up to {max_age_seconds} s old.",
            age=int(age),
            max_age=max_age_seconds,
        )
    if age < -30:
        raise AlertError(
            "future", f"The alert's time is {int(-age)} s in the future: check the 'time' field.", ahead=int(-age)
        )


def dedupe_key(alert: Alert, body: bytes, window_start: datetime | None = None) -> str:
    """One alert, one order: the alert's order id, time, action and symbol when it has an order id or a
    time; otherwise a hash of the whole body and the start of the duplicate window it arrived in
    (``window_start``: the bot's candle, or the minute), so that the same bytes next week are a new alert."""
    if alert.order_id or alert.time:
        parts = (alert.order_id or "", alert.time.isoformat() if alert.time else "", alert.action, alert.market)
        source = "|".join(parts).encode()
    else:
        source = body + (b"|" + window_start.isoformat().encode() if window_start is not None else b"")
    return hashlib.sha256(source).hexdigest()


def window_start(when: datetime, seconds: int) -> datetime:
    """The start of the ``seconds``-long window (candles start at 00:00 UTC) that ``when`` falls in."""
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % max(1, seconds), tz=UTC)


def body_prefix(body: bytes) -> str:
    """What the event log keeps of a body that did not authenticate: its first ``PREFIX_CHARS`` characters as
    text, with anything named or shaped like a secret masked (before cutting, so no secret is half kept)."""
    text = body[: PREFIX_CHARS * 8].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    text = _SECRET_IN_JSON.sub(lambda m: m.group(1) + '"***"', text)
    text = _SECRET_IN_TEXT.sub(lambda m: m.group(1) + "***", text)
    text = _SECRET_SHAPE.sub("whs_***", text)
    return text[:PREFIX_CHARS]


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def client_ip(remote_addr: str, forwarded_for: str | None, trusted_proxies: int) -> str:
    """The sender's address: ``REMOTE_ADDR``, or with ``trusted_proxies`` proxies in front, the address
    that many hops back in ``X-Forwarded-For`` (never a value the client could have written itself)."""
    if trusted_proxies <= 0 or not forwarded_for:
        return remote_addr
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if len(hops) < trusted_proxies:
        return remote_addr
    candidate = hops[-trusted_proxies]
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return remote_addr
    return candidate
