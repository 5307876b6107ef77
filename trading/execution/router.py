"""The order router's pure part: the risk envelope, sizing, precision and the client order id.

Every order, from a bot, a TradingView alert or a person, passes ``apply_envelope`` first: what it asks
for (leverage, position size, stop loss, take profit) is a request, capped by the user's limits.
A request above a limit is clamped, an impossible one refused; each adjustment is returned so the
caller can log and store what happened.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from trading.exchanges.base import Market
from trading.exchanges.errors import InvalidOrder

ONE = Decimal(1)
HUNDRED = Decimal(100)
BPS = Decimal(10_000)

# Platform-wide bounds (accounts.risk.RISK_RANGES): no request goes outside them, whatever the user set.
LEVERAGE_MAX = 10
SIZE_RANGE = (Decimal(5), Decimal(20))
STOP_LOSS_RANGE = (Decimal(1), Decimal(5))
TAKE_PROFIT_RANGE = (Decimal(2), Decimal(10))


class RouterError(InvalidOrder):
    """The order cannot be prepared (refused by the envelope, below the market's minimum)."""


@dataclass(frozen=True)
class Envelope:
    """The user's limits: maxima for leverage and size; stop loss / take profit within their ranges."""

    max_leverage: int = 1
    max_position_size_pct: Decimal = Decimal(10)
    default_stop_loss_pct: Decimal | None = Decimal(2)
    default_take_profit_pct: Decimal | None = Decimal(4)


@dataclass(frozen=True)
class Request:
    """What a bot, an alert or a person asks for when opening a position."""

    leverage: int | Decimal | None = None
    position_size_pct: Decimal | None = None
    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None
    use_default_stops: bool = True  # absent SL/TP take the envelope's defaults


@dataclass(frozen=True)
class Adjustment:
    field: str
    requested: str
    applied: str
    action: str  # "clamped", "defaulted", "refused"

    def __str__(self) -> str:
        return f"{self.field}: {self.action} {self.requested} → {self.applied}"


@dataclass(frozen=True)
class Capped:
    leverage: int
    position_size_pct: Decimal
    stop_loss_pct: Decimal | None
    take_profit_pct: Decimal | None
    adjustments: tuple[Adjustment, ...] = field(default=())
    # The strategy's own stop and target of the signal candle (backtest rule 13: a × entry + b per side, the signal
    # row's level columns): they replace the percentages.
    levels: Mapping[str, float | None] | None = None


def _clamp(name: str, value: Decimal, low: Decimal, high: Decimal, notes: list[Adjustment]) -> Decimal:
    if value > high:
        notes.append(Adjustment(name, str(value), str(high), "clamped"))
        return high
    if value < low:
        notes.append(Adjustment(name, str(value), str(low), "clamped"))
        return low
    return value


def _number(name: str, value: object) -> Decimal:
    try:
        return Decimal(str(value).strip())
    except ArithmeticError:
        raise RouterError(f"{name} {value!r} is not a number.", code=name) from None


def apply_envelope(request: Request, envelope: Envelope) -> Capped:
    """Cap a request by the user's limits. ``RouterError`` when a value is not a sensible number."""
    notes: list[Adjustment] = []
    max_leverage = max(1, min(int(envelope.max_leverage), LEVERAGE_MAX))
    leverage_in = request.leverage if request.leverage is not None else max_leverage
    try:
        leverage_value = Decimal(str(leverage_in))
    except ArithmeticError:
        raise RouterError(f"Leverage {leverage_in!r} is not a number.", code="leverage") from None
    if not leverage_value.is_finite() or leverage_value < 1:
        raise RouterError(f"Leverage {leverage_in} is refused: it must be at least 1.", code="leverage")
    leverage = int(leverage_value)  # exchanges set whole leverage: 2.5x is 2x
    if Decimal(leverage) != leverage_value:
        notes.append(Adjustment("leverage", str(leverage_value), str(leverage), "clamped"))
    if leverage > max_leverage:
        notes.append(Adjustment("leverage", str(leverage), str(max_leverage), "clamped"))
        leverage = max_leverage

    max_size = min(Decimal(envelope.max_position_size_pct), SIZE_RANGE[1])
    requested = request.position_size_pct
    size = _number("position_size_pct", requested if requested is not None else max_size)
    if not size.is_finite() or size <= 0:
        raise RouterError(f"Position size {size} % is refused: it must be above 0.", code="position_size_pct")
    # A cap limits from above only: a request for less than the usual 5 % trades less, as asked.
    size = _clamp("position_size_pct", size, Decimal(0), max_size, notes)

    def stop(
        name: str, value: Decimal | None, default: Decimal | None, bounds: tuple[Decimal, Decimal]
    ) -> Decimal | None:
        if value is None:
            if request.use_default_stops and default is not None:
                notes.append(Adjustment(name, "none", str(default), "defaulted"))
                return Decimal(default)
            return None
        value = _number(name, value)
        if not value.is_finite() or value <= 0:
            raise RouterError(f"{name} {value} % is refused: it must be above 0.", code=name)
        return _clamp(name, value, *bounds, notes)

    stop_loss = stop("stop_loss_pct", request.stop_loss_pct, envelope.default_stop_loss_pct, STOP_LOSS_RANGE)
    take_profit = stop("take_profit_pct", request.take_profit_pct, envelope.default_take_profit_pct, TAKE_PROFIT_RANGE)
    return Capped(leverage, size, stop_loss, take_profit, tuple(notes))


def client_order_id(scope: str, candle_ms: int | str, leg: str) -> str:
    """Deterministic: the same (scope, candle, leg) always gives the same id, so a retried task can
    never place a second order. 31 letters and digits: valid for Binance (≤ 36) and OKX (≤ 32,
    alphanumeric)."""
    digest = hashlib.sha256(f"{scope}|{candle_ms}|{leg}".encode()).hexdigest()
    return "T" + digest[:30]


def expected_fill(side: str, price: Decimal, slippage_bps: Decimal) -> Decimal:
    slip = Decimal(slippage_bps) / BPS
    return price * (ONE + slip) if side == "buy" else price * (ONE - slip)


@dataclass(frozen=True)
class Sized:
    amount: Decimal
    notional: Decimal
    margin: Decimal


def size_entry(
    *, market: Market, side: str, equity: Decimal, capped: Capped, price: Decimal, slippage_bps: Decimal
) -> Sized:
    """margin = equity × size %; notional = margin × leverage; amount = notional / the expected fill
    price (the current price plus slippage), rounded down to the size step — the backtest's sizing."""
    if equity <= 0:
        raise RouterError("There is no balance to trade with.", code="no_balance")
    margin = equity * capped.position_size_pct / HUNDRED
    notional = margin * capped.leverage
    fill = expected_fill(side, price, slippage_bps)
    amount = market.round_amount(notional / (fill * market.contract_size))
    if amount <= 0 or amount < market.min_amount:
        raise RouterError(
            f"The order size {amount} {market.base} is below the market's minimum {market.min_amount}.",
            code="min_amount",
        )
    value = market.notional(amount, fill)
    if value < market.min_notional:
        raise RouterError(
            f"The order value {value:.2f} {market.quote} is below the market's minimum {market.min_notional} "
            f"{market.quote}.",
            code="min_notional",
        )
    return Sized(amount=amount, notional=value, margin=value / capped.leverage)


def protective_levels(
    *,
    market: Market,
    side: str,
    entry_price: Decimal,
    stop_loss_pct: Decimal | None,
    take_profit_pct: Decimal | None,
    levels: Mapping[str, float | None] | None = None,
) -> tuple[Decimal | None, Decimal | None]:
    """Stop loss and take profit from the entry fill (long: below / above; short mirrored), rounded to
    the price step; with the strategy's ``levels``, a × the entry (the average of a position's entries) + b."""
    if levels is not None:
        return _level(levels, side, "stop", entry_price, market), _level(levels, side, "target", entry_price, market)
    sign = ONE if side == "long" else -ONE
    stop = take = None
    if stop_loss_pct is not None:
        stop = market.round_price(entry_price * (ONE - sign * Decimal(stop_loss_pct) / HUNDRED))
    if take_profit_pct is not None:
        take = market.round_price(entry_price * (ONE + sign * Decimal(take_profit_pct) / HUNDRED))
    return stop, take


def _level(levels: Mapping[str, float | None], side: str, kind: str, entry: Decimal, market: Market) -> Decimal | None:
    """One of the strategy's levels for a position entered at ``entry``; None where it gives none (or one at or
    below zero, which no order can hold)."""
    a, b = levels.get(f"{side}_{kind}_a"), levels.get(f"{side}_{kind}_b")
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    level = market.round_price(Decimal(repr(float(a))) * entry + Decimal(repr(float(b))))
    return level if level > 0 else None


def with_leverage(capped: Capped, leverage: int) -> Capped:
    return replace(capped, leverage=leverage)
