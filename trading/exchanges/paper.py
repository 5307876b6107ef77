"""The built-in paper exchange (pure: no Django). It speaks the same protocol as the ccxt adapter.

State (a ``PaperBook``: the USDT balance, resting orders, positions) is handed in by the caller and
read back after each call; the Django side (``trading.paper.store``) loads and saves it in the
database under a row lock. Prices come from a callable (the market clock: the exchange's public
ticker online, the replayed candle offline).

Fill rules are the backtest engine's (``strategies.backtest``), so a strategy traded on paper fills
exactly as it was backtested:

- A market order fills at once at the current price plus slippage against the trader; a fee of
  ``fee_rate`` × notional is charged on every fill.
- Margin is isolated: a position holds notional / leverage of the balance as margin; a long is
  liquidated at entry × (1 − 1/leverage), a short at entry × (1 + 1/leverage) (no maintenance margin),
  and a close never loses more than the position's margin. The balance never goes below 0.
- ``stop_market`` orders (and the liquidation price: the nearer of the two is the active stop) fill at
  the trigger, or at the price the market reached first when it jumped beyond it (``on_price``: an
  opening price or a ticker), plus slippage. ``take_profit`` orders fill at the trigger (or at a better
  opening price), without slippage. When one candle (``on_candle``) reaches both a stop and a target,
  the stop fills first unless lower-timeframe candles of that candle show the target was reached first.
- When a position closes, the reduce-only orders left on its market are canceled (one-cancels-other).
- Amounts must respect the market's size step, minimum amount and minimum notional (as on the real
  market); a reduce-only order with nothing to reduce is rejected.

Why this file is long: the paper exchange is one state machine over one book (orders, positions, fills,
liquidations); its fill rules mirror the backtest engine's line for line and read best in one place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from .base import (
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
from .errors import ExchangeError, InsufficientFunds, InvalidOrder, OrderNotFound, UnknownSymbol

ONE = Decimal(1)
BPS = Decimal(10_000)
QUOTE = "USDT"


@dataclass
class PaperOrder:
    exchange_order_id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    amount: Decimal
    filled: Decimal = ZERO
    average: Decimal | None = None
    fee: Decimal = ZERO
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    reason: str = ""
    created_ms: int = 0
    updated_ms: int = 0

    def state(self) -> OrderState:
        return OrderState(
            exchange_order_id=self.exchange_order_id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            status=self.status,
            amount=self.amount,
            filled=self.filled,
            average=self.average,
            fee=self.fee,
            price=self.price,
            trigger_price=self.trigger_price,
            reduce_only=self.reduce_only,
            timestamp_ms=self.created_ms,
            updated_ms=self.updated_ms,
            reason=self.reason,
        )


@dataclass
class PaperPosition:
    symbol: str
    side: str  # long / short
    amount: Decimal
    entry_price: Decimal
    margin: Decimal
    entry_fee: Decimal
    leverage: int
    opened_ms: int

    @property
    def sign(self) -> int:
        return 1 if self.side == "long" else -1

    @property
    def liquidation_price(self) -> Decimal:
        """Isolated margin, no maintenance margin; 0 for an unleveraged long (never liquidated)."""
        inverse = ONE / Decimal(self.leverage)
        return self.entry_price * (ONE - inverse) if self.side == "long" else self.entry_price * (ONE + inverse)


@dataclass
class PaperBook:
    balance: Decimal
    orders: dict[str, PaperOrder] = field(default_factory=dict)  # open orders (and those changed in this call)
    positions: dict[str, PaperPosition] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    next_seq: int = 1
    changed: set[str] = field(default_factory=set)  # exchange ids of orders created or changed


@dataclass(frozen=True)
class Fill:
    """One fill, for the caller to record: ``realized_pnl`` is net of the entry and exit fees of the
    closed part (as the backtest reports a trade's pnl)."""

    order: OrderState
    price: Decimal
    amount: Decimal
    fee: Decimal
    time_ms: int
    reason: str  # market, limit, stop_loss, take_profit, liquidation, end
    opened: PaperPosition | None = None  # the position after an opening fill
    closed_side: str = ""  # the side of the position this fill closed (fully or partly)
    closed_amount: Decimal = ZERO
    entry_price: Decimal | None = None  # of the closed position
    realized_pnl: Decimal = ZERO
    position_closed: bool = False


class PaperExchange:
    id = "paper"
    capabilities = Capabilities(
        stop_orders=True,
        take_profit_orders=True,
        reduce_only=True,
        positions=True,
        set_leverage=True,
        client_order_id=True,
        key_permissions=True,
    )

    def __init__(
        self,
        book: PaperBook,
        markets: dict[str, Market],
        *,
        price: Callable[[str], Decimal],
        now_ms: Callable[[], int],
        fee_rate: Decimal = Decimal("0.001"),
        slippage_bps: Decimal = Decimal(5),
        find_order: Callable[[str | None, str | None], PaperOrder | None] | None = None,
    ) -> None:
        self.book = book
        self.markets = markets
        self._price = price
        self._now_ms = now_ms
        self.fee_rate = Decimal(fee_rate)
        self.slippage_bps = Decimal(slippage_bps)
        self.slip = self.slippage_bps / BPS
        self._find_order = find_order or (lambda exchange_id, client_id: None)
        self.fills: list[Fill] = []

    # --- reads -------------------------------------------------------------------------------------
    def load_markets(self) -> dict[str, Market]:
        return dict(self.markets)

    def market(self, symbol: str) -> Market:
        try:
            return self.markets[symbol]
        except KeyError:
            raise UnknownSymbol(f"The paper exchange does not list {symbol}.", code="unknown_symbol") from None

    def fetch_balance(self) -> dict[str, Balance]:
        used = sum((p.margin for p in self.book.positions.values()), ZERO)
        total = self.book.balance
        return {QUOTE: Balance(QUOTE, total=total, free=max(total - used, ZERO), used=used)}

    def fetch_key_permissions(self) -> KeyPermissions:
        return KeyPermissions(trade=True, withdraw=False, ip_restricted=None)

    def fetch_ticker(self, symbol: str) -> Ticker:
        self.market(symbol)
        return Ticker(symbol=symbol, last=self._price(symbol), time_ms=self._now_ms())

    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None = None, limit: int | None = None) -> list:
        """Candles come from Trendy's market data, not from the paper exchange."""
        return []

    def fetch_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderState:
        return self._order(exchange_order_id, client_order_id).state()

    def fetch_open_orders(self, symbol: str | None = None) -> list[OrderState]:
        return [
            o.state()
            for o in sorted(self.book.orders.values(), key=lambda o: o.created_ms)
            if o.status == "open" and (symbol is None or o.symbol == symbol)
        ]

    def fetch_positions(self, symbols: list[str] | None = None) -> list[PositionState]:
        states = []
        for p in self.book.positions.values():
            if symbols is not None and p.symbol not in symbols:
                continue
            try:
                mark = self._price(p.symbol)
                unrealized = p.sign * p.amount * (mark - p.entry_price)
            except ExchangeError:
                unrealized = ZERO
            states.append(
                PositionState(
                    symbol=p.symbol,
                    side=p.side,
                    amount=p.amount,
                    entry_price=p.entry_price,
                    leverage=p.leverage,
                    margin=p.margin,
                    liquidation_price=p.liquidation_price if p.leverage > 1 or p.side == "short" else None,
                    unrealized_pnl=unrealized,
                    opened_ms=p.opened_ms,
                )
            )
        return states

    # --- writes ------------------------------------------------------------------------------------
    def set_leverage(self, symbol: str, leverage: int) -> None:
        self.market(symbol)
        if not 1 <= int(leverage) <= 125:
            raise InvalidOrder(f"Leverage {leverage} is outside 1-125.", code="leverage")
        self.book.leverage[symbol] = int(leverage)

    def create_order(self, request: OrderRequest) -> OrderState:
        market = self.market(request.symbol)
        if request.side not in ("buy", "sell"):
            raise InvalidOrder(f"Unknown side {request.side!r}.", code="side")
        if request.type not in ("market", "limit", "stop_market", "take_profit"):
            raise InvalidOrder(f"Unknown order type {request.type!r}.", code="type")
        if not request.client_order_id:
            raise InvalidOrder("A client order id is required.", code="client_order_id")
        if self._known_client_id(request.client_order_id):
            raise InvalidOrder(f"Duplicate client order id {request.client_order_id}.", code="duplicate")
        amount = Decimal(request.amount)
        if amount <= 0 or market.round_amount(amount) != amount:
            raise InvalidOrder(
                f"Amount {amount} is not a positive multiple of the size step {market.amount_step}.", code="lot_size"
            )
        if amount < market.min_amount:
            raise InvalidOrder(f"Amount {amount} is below the minimum {market.min_amount}.", code="min_amount")
        if request.type == "limit" and (request.price is None or request.price <= 0):
            raise InvalidOrder("A limit order needs a price.", code="price")
        if request.type in ("stop_market", "take_profit") and (
            request.trigger_price is None or request.trigger_price <= 0
        ):
            raise InvalidOrder("A stop or take-profit order needs a trigger price.", code="trigger")
        position = self.book.positions.get(request.symbol)
        if request.reduce_only and (position is None or _closing_side(position) != request.side):
            raise InvalidOrder("Reduce-only order rejected: there is no position it would reduce.", code="reduce_only")
        current = self._price(request.symbol)
        reference = request.price or request.trigger_price or current
        if not request.reduce_only and market.notional(amount, reference) < market.min_notional:
            raise InvalidOrder(
                f"Order value {market.notional(amount, reference):.2f} {market.quote} is below the minimum "
                f"{market.min_notional} {market.quote}.",
                code="min_notional",
            )
        # cast: a stop or take-profit order without a positive trigger price was refused above.
        if request.type == "stop_market" and _triggered(
            request.side, "stop_market", cast(Decimal, request.trigger_price), current
        ):
            raise InvalidOrder("The stop would trigger immediately at the current price.", code="would_trigger")
        if request.type == "take_profit" and _triggered(
            request.side, "take_profit", cast(Decimal, request.trigger_price), current
        ):
            raise InvalidOrder("The take profit would trigger immediately at the current price.", code="would_trigger")
        now = self._now_ms()
        order = PaperOrder(
            exchange_order_id=f"P{self.book.next_seq}",
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            status="open",
            amount=amount,
            price=request.price,
            trigger_price=request.trigger_price,
            reduce_only=request.reduce_only,
            created_ms=now,
            updated_ms=now,
        )
        if not request.reduce_only:
            self._check_funds(market, request, amount, current)
        self.book.next_seq += 1
        self.book.orders[order.exchange_order_id] = order
        self.book.changed.add(order.exchange_order_id)
        if request.type == "market":
            self._fill(order, self._slipped(order.side, current), now, "market")
        elif request.type == "limit" and _limit_crosses(order, current):
            self._fill(order, current, now, "limit")
        return order.state()

    def cancel_order(
        self, symbol: str, *, exchange_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderState:
        order = self._order(exchange_order_id, client_order_id)
        if order.status != "open":
            raise OrderNotFound(f"Order {order.exchange_order_id} is {order.status}, not open.", code="not_open")
        self._close_order(order, "canceled", self._now_ms(), "canceled by request")
        return order.state()

    # --- prices ------------------------------------------------------------------------------------
    def on_price(self, symbol: str, price: Decimal, time_ms: int) -> list[Fill]:
        """A new price point (a candle's open, or a ticker): resting orders it reaches fill, a stop or
        target the price jumped beyond fills at that price (the backtest's gap rule)."""
        before = len(self.fills)
        position = self.book.positions.get(symbol)
        if position is not None:
            stop, stop_reason = self._active_stop(position)
            target = self._target(position)
            if stop is not None and _beyond(position, price, stop, stop=True):
                self._fill_stop(position, stop_reason, self._slipped(_closing_side(position), price), time_ms)
            elif target is not None and _beyond(position, price, cast(Decimal, target.trigger_price), stop=False):
                self._fill(target, price, time_ms, "take_profit")
        self._fill_limits(symbol, price, price, time_ms)
        return self.fills[before:]

    def on_candle(
        self,
        symbol: str,
        open_: Decimal,
        high: Decimal,
        low: Decimal,
        time_ms: int,
        intrabar: Sequence[tuple[Decimal, Decimal]] = (),
    ) -> list[Fill]:
        """The rest of a candle after its open: stops, liquidation and targets against its high and low.
        ``intrabar`` is the (high, low) of the lower-timeframe candles inside it, in order, if stored."""
        before = len(self.fills)
        position = self.book.positions.get(symbol)
        if position is not None:
            stop, stop_reason = self._active_stop(position)
            target = self._target(position)
            long = position.side == "long"
            # casts: a take-profit order always has its trigger price; past ``hit_stop`` (``hit_target``) the stop
            # (the target) is not None.
            hit_stop = stop is not None and (low <= stop if long else high >= stop)
            hit_target = target is not None and (
                high >= cast(Decimal, target.trigger_price) if long else low <= cast(Decimal, target.trigger_price)
            )
            if hit_stop and hit_target:
                hit_stop, hit_target = True, False
                for bar_high, bar_low in intrabar:
                    s_hit = bar_low <= cast(Decimal, stop) if long else bar_high >= cast(Decimal, stop)
                    t_hit = (
                        bar_high >= cast(Decimal, cast(PaperOrder, target).trigger_price)
                        if long
                        else bar_low <= cast(Decimal, cast(PaperOrder, target).trigger_price)
                    )
                    if s_hit:
                        break  # the stop first (also when one lower candle reached both)
                    if t_hit:
                        hit_stop, hit_target = False, True
                        break
            if hit_stop:
                base = min(cast(Decimal, stop), open_) if long else max(cast(Decimal, stop), open_)
                self._fill_stop(position, stop_reason, self._slipped(_closing_side(position), base), time_ms)
            elif hit_target:
                self._fill(
                    cast(PaperOrder, target),
                    cast(Decimal, cast(PaperOrder, target).trigger_price),
                    time_ms,
                    "take_profit",
                )
        self._fill_limits(symbol, low, high, time_ms)
        return self.fills[before:]

    def settle(self, symbol: str, price: Decimal, time_ms: int) -> list[Fill]:
        """Close a position at ``price`` with no slippage (the end of a replay, as the backtest's "end")."""
        before = len(self.fills)
        position = self.book.positions.get(symbol)
        if position is not None:
            order = self._system_order(position, time_ms, "settle")
            self._fill(order, price, time_ms, "end")
        return self.fills[before:]

    # --- internals ---------------------------------------------------------------------------------
    def _known_client_id(self, client_order_id: str) -> bool:
        if any(o.client_order_id == client_order_id for o in self.book.orders.values()):
            return True
        return self._find_order(None, client_order_id) is not None

    def _order(self, exchange_order_id: str | None, client_order_id: str | None) -> PaperOrder:
        for order in self.book.orders.values():
            if (exchange_order_id and order.exchange_order_id == exchange_order_id) or (
                client_order_id and order.client_order_id == client_order_id
            ):
                return order
        found = self._find_order(exchange_order_id, client_order_id)
        if found is None:
            raise OrderNotFound(
                f"No order {exchange_order_id or client_order_id} on the paper exchange.", code="not_found"
            )
        return found

    def _slipped(self, side: str, price: Decimal) -> Decimal:
        return price * (ONE + self.slip) if side == "buy" else price * (ONE - self.slip)

    def _check_funds(self, market: Market, request: OrderRequest, amount: Decimal, current: Decimal) -> None:
        position = self.book.positions.get(request.symbol)
        closing = ZERO
        if position is not None and _closing_side(position) == request.side:
            closing = min(amount, position.amount)
        opening = amount - closing
        if opening <= 0:
            return
        price = request.price or request.trigger_price or current
        if request.type == "market":
            price = self._slipped(request.side, current)
        notional = market.notional(opening, price)
        leverage = self.book.leverage.get(request.symbol, 1)
        needed = notional / Decimal(leverage) + notional * self.fee_rate
        free = self.fetch_balance()[QUOTE].free
        if position is not None and closing > 0:
            free += position.margin  # freed by the closing part
        if needed > free:
            raise InsufficientFunds(
                f"Insufficient balance: the order needs {needed:.2f} {QUOTE} of margin and fees, "
                f"{free:.2f} {QUOTE} is free.",
                code="insufficient_funds",
            )

    def _active_stop(self, position: PaperPosition) -> tuple[Decimal | None, str]:
        """The nearer of the resting stop loss and the liquidation price (as the backtest's active stop)."""
        liquidation = position.liquidation_price
        stops = [
            o.trigger_price
            for o in self.book.orders.values()
            if o.status == "open"
            and o.symbol == position.symbol
            and o.type == "stop_market"
            and o.side == _closing_side(position)
            and o.trigger_price is not None
        ]
        if position.side == "long":
            stop = max(stops) if stops else None
            if stop is not None and stop >= liquidation:
                return stop, "stop_loss"
            return (liquidation, "liquidation") if liquidation > 0 else (None, "")
        stop = min(stops) if stops else None
        if stop is not None and stop <= liquidation:
            return stop, "stop_loss"
        return liquidation, "liquidation"

    def _target(self, position: PaperPosition) -> PaperOrder | None:
        targets = [
            o
            for o in self.book.orders.values()
            if o.status == "open"
            and o.symbol == position.symbol
            and o.type == "take_profit"
            and o.side == _closing_side(position)
        ]
        if not targets:
            return None
        pick = min if position.side == "long" else max
        return pick(targets, key=lambda o: cast(Decimal, o.trigger_price))  # take profits have trigger prices

    def _fill_stop(self, position: PaperPosition, reason: str, price: Decimal, time_ms: int) -> None:
        side = _closing_side(position)
        order = None
        if reason == "stop_loss":
            candidates = [
                o
                for o in self.book.orders.values()
                if o.status == "open" and o.symbol == position.symbol and o.type == "stop_market" and o.side == side
            ]
            pick = max if position.side == "long" else min
            # stop orders always carry a trigger price (create_order refuses one without)
            order = pick(candidates, key=lambda o: cast(Decimal, o.trigger_price)) if candidates else None
        if order is None:
            order = self._system_order(position, time_ms, "liquidation")
        self._fill(order, price, time_ms, reason)

    def _system_order(self, position: PaperPosition, time_ms: int, kind: str) -> PaperOrder:
        order = PaperOrder(
            exchange_order_id=f"P{self.book.next_seq}",
            client_order_id=f"{kind}-{self.book.next_seq}",
            symbol=position.symbol,
            side=_closing_side(position),
            type="market",
            status="open",
            amount=position.amount,
            reduce_only=True,
            created_ms=time_ms,
            updated_ms=time_ms,
        )
        self.book.next_seq += 1
        self.book.orders[order.exchange_order_id] = order
        self.book.changed.add(order.exchange_order_id)
        return order

    def _fill_limits(self, symbol: str, low: Decimal, high: Decimal, time_ms: int) -> None:
        for order in sorted(self.book.orders.values(), key=lambda o: o.created_ms):
            if order.status != "open" or order.symbol != symbol or order.type != "limit":
                continue
            limit = cast(Decimal, order.price)  # a limit order always has its price (create_order checks it)
            if (order.side == "buy" and low <= limit) or (order.side == "sell" and high >= limit):
                self._fill(order, limit, time_ms, "limit")

    def _fill(self, order: PaperOrder, price: Decimal, time_ms: int, reason: str) -> None:
        market = self.markets[order.symbol]
        book = self.book
        amount = order.amount
        position = book.positions.get(order.symbol)
        fee_total = ZERO
        fill_kwargs: dict = {}
        if position is not None and _closing_side(position) == order.side:
            closing = min(amount, position.amount)
            if order.reduce_only:
                amount = closing
            fraction = closing / position.amount
            margin = position.margin * fraction
            entry_fee = position.entry_fee * fraction
            gross = position.sign * closing * market.contract_size * (price - position.entry_price)
            if gross < -margin:  # the margin is all a position can lose
                gross = -margin
                reason = "liquidation"
            exit_fee = self.fee_rate * closing * market.contract_size * price
            fee_total += exit_fee
            book.balance = book.balance + gross - exit_fee
            pnl = gross - exit_fee - entry_fee
            if book.balance < 0:  # the balance never goes negative
                pnl -= book.balance
                book.balance = ZERO
            fill_kwargs.update(
                closed_side=position.side,
                closed_amount=closing,
                entry_price=position.entry_price,
                realized_pnl=pnl,
            )
            if closing == position.amount:
                del book.positions[order.symbol]
                fill_kwargs["position_closed"] = True
            else:
                position.amount -= closing
                position.margin -= margin
                position.entry_fee -= entry_fee
            opening = amount - closing
        else:
            opening = amount
        if opening > 0:
            notional = opening * market.contract_size * price
            fee = self.fee_rate * notional
            fee_total += fee
            leverage = book.leverage.get(order.symbol, 1)
            book.balance -= fee
            position = book.positions.get(order.symbol)
            if position is None:
                position = PaperPosition(
                    symbol=order.symbol,
                    side="long" if order.side == "buy" else "short",
                    amount=opening,
                    entry_price=price,
                    margin=notional / Decimal(leverage),
                    entry_fee=fee,
                    leverage=leverage,
                    opened_ms=time_ms,
                )
                book.positions[order.symbol] = position
            else:  # adding to a position: average the entry
                total = position.amount + opening
                position.entry_price = (position.entry_price * position.amount + price * opening) / total
                position.amount = total
                position.margin += notional / Decimal(leverage)
                position.entry_fee += fee
            fill_kwargs["opened"] = position
        order.status = "closed"
        order.filled = amount
        order.average = price
        order.fee = fee_total
        order.updated_ms = time_ms
        book.changed.add(order.exchange_order_id)
        self.fills.append(
            Fill(
                order=order.state(),
                price=price,
                amount=amount,
                fee=fee_total,
                time_ms=time_ms,
                reason=reason,
                **fill_kwargs,
            )
        )
        if fill_kwargs.get("position_closed"):
            for other in list(book.orders.values()):
                if other.status == "open" and other.symbol == order.symbol and other.reduce_only:
                    self._close_order(other, "canceled", time_ms, "position closed")

    def _close_order(self, order: PaperOrder, status: str, time_ms: int, reason: str) -> None:
        order.status = status
        order.reason = reason
        order.updated_ms = time_ms
        self.book.changed.add(order.exchange_order_id)


def _closing_side(position: PaperPosition) -> str:
    return "sell" if position.side == "long" else "buy"


def _beyond(position: PaperPosition, price: Decimal, level: Decimal, *, stop: bool) -> bool:
    """Has ``price`` reached ``level``: a stop below a long (above a short), a target above it (below)."""
    if position.side == "long":
        return price <= level if stop else price >= level
    return price >= level if stop else price <= level


def _triggered(side: str, kind: str, trigger: Decimal, price: Decimal) -> bool:
    # A sell stop protects a long (below the price); a buy stop protects a short (above it). Targets mirror.
    if kind == "stop_market":
        return price <= trigger if side == "sell" else price >= trigger
    return price >= trigger if side == "sell" else price <= trigger


def _limit_crosses(order: PaperOrder, price: Decimal) -> bool:
    limit = cast(Decimal, order.price)  # a limit order always has its price (create_order checks it)
    return price <= limit if order.side == "buy" else price >= limit
