"""The exchange adapter protocol and the plain values it speaks (pure: no Django, no ccxt).

Every amount and price is a ``Decimal``. Symbols are unified ccxt-style: ``BTC/USDT`` for spot,
``BTC/USDT:USDT`` for a USDT-margined perpetual. Sides are ``buy``/``sell`` for orders and
``long``/``short`` for positions. Times are epoch milliseconds (UTC).

Order types:

- ``market``: fills at once at the current price (plus slippage).
- ``limit``: rests at ``price``; fills at ``price`` when the market trades through it.
- ``stop_market``: a protective stop; when the price reaches ``trigger_price`` it becomes a market
  order (fills at the trigger, or at the price the market opened at when it gapped beyond it).
- ``take_profit``: a protective target; when the price reaches ``trigger_price`` it fills at the
  trigger (or at a better opening price when the market gapped beyond it).

``reduce_only`` orders may only shrink a position; one with nothing to reduce is rejected
(``InvalidOrder``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, Protocol, runtime_checkable

SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit", "stop_market", "take_profit")
ORDER_STATUSES = ("open", "closed", "canceled", "rejected", "expired")
POSITION_SIDES = ("long", "short")
MARKET_TYPES = ("spot", "swap")

ZERO = Decimal(0)


def quantize_step(value: Decimal, step: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
    """``value`` rounded to a multiple of ``step`` (a tick size such as 0.001); step 0 means no rounding."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=rounding) * step


@dataclass(frozen=True)
class Market:
    """One tradable market with the exchange's precision and limits."""

    symbol: str  # unified: BTC/USDT or BTC/USDT:USDT
    base: str
    quote: str
    type: str = "spot"  # "spot" or "swap"
    exchange_symbol: str = ""  # the exchange's own id (BTCUSDT, BTC-USDT-SWAP)
    amount_step: Decimal = ZERO  # order size step (base units, or contracts on OKX swaps)
    price_step: Decimal = ZERO
    min_amount: Decimal = ZERO
    min_notional: Decimal = ZERO  # in the quote currency
    contract_size: Decimal = Decimal(1)  # base units per contract (1 where amounts are in base units)
    active: bool = True

    def round_amount(self, amount: Decimal) -> Decimal:
        """Down to the size step: never more than asked."""
        return quantize_step(amount, self.amount_step, ROUND_DOWN)

    def round_price(self, price: Decimal) -> Decimal:
        return quantize_step(price, self.price_step, ROUND_HALF_UP)

    def notional(self, amount: Decimal, price: Decimal) -> Decimal:
        return amount * self.contract_size * price


@dataclass(frozen=True)
class Ticker:
    symbol: str
    last: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    time_ms: int | None = None


@dataclass(frozen=True)
class Balance:
    asset: str
    total: Decimal
    free: Decimal
    used: Decimal = ZERO


@dataclass(frozen=True)
class KeyPermissions:
    """What an API key may do, where the exchange tells (``None`` = the exchange does not say)."""

    trade: bool | None = None
    withdraw: bool | None = None
    ip_restricted: bool | None = None


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: str  # buy / sell
    type: str  # one of ORDER_TYPES
    amount: Decimal
    client_order_id: str
    price: Decimal | None = None  # limit price
    trigger_price: Decimal | None = None  # stop_market / take_profit
    reduce_only: bool = False


@dataclass(frozen=True)
class OrderState:
    """An order as the exchange reports it."""

    exchange_order_id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str  # one of ORDER_STATUSES
    amount: Decimal
    filled: Decimal = ZERO
    average: Decimal | None = None  # average fill price
    fee: Decimal = ZERO  # in the quote currency
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    timestamp_ms: int | None = None  # creation
    updated_ms: int | None = None  # last fill or status change
    reason: str = ""  # why rejected / canceled, when known
    info: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True)
class PositionState:
    symbol: str
    side: str  # long / short
    amount: Decimal  # base units
    entry_price: Decimal
    leverage: int = 1
    margin: Decimal = ZERO
    liquidation_price: Decimal | None = None
    unrealized_pnl: Decimal = ZERO
    opened_ms: int | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a venue supports; the engine reads this instead of asking which exchange it is."""

    stop_orders: bool = True  # exchange-native stop_market
    take_profit_orders: bool = True  # exchange-native take_profit
    reduce_only: bool = True
    positions: bool = False  # perpetuals with positions (swap accounts)
    set_leverage: bool = False
    client_order_id: bool = True  # our id is sent and can be looked up
    key_permissions: bool = False  # fetch_key_permissions tells about withdrawals


@runtime_checkable
class Exchange(Protocol):
    """What the router, the engine and the reconciler need from a venue."""

    id: str
    capabilities: Capabilities

    def load_markets(self) -> dict[str, Market]: ...

    def market(self, symbol: str) -> Market:
        """The market for a unified symbol; ``UnknownSymbol`` when not listed."""
        ...

    def fetch_balance(self) -> dict[str, Balance]: ...

    def fetch_key_permissions(self) -> KeyPermissions: ...

    def fetch_ticker(self, symbol: str) -> Ticker: ...

    def fetch_ohlcv(
        self, symbol: str, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[list[float]]:
        """Closed and current candles: ``[open_time_ms, open, high, low, close, volume]`` rows."""
        ...

    def create_order(self, request: OrderRequest) -> OrderState: ...

    def cancel_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderState: ...

    def fetch_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderState:
        """``OrderNotFound`` when the exchange has no such order."""
        ...

    def fetch_open_orders(self, symbol: str | None = None) -> list[OrderState]: ...

    def fetch_positions(self, symbols: list[str] | None = None) -> list[PositionState]:
        """Open positions (perpetuals). Spot venues return ``[]``."""
        ...

    def set_leverage(self, symbol: str, leverage: int) -> None: ...
