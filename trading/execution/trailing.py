"""A bot's trailing stop on the live path: the backtest's rule 11 (``strategies.backtest``), after each closed candle.

The best price of the closed candles since the entry (``Position.trail_best``; it starts at the entry fill) moves
with the candle's high (a short: its low); once it is ``activation`` % beyond the entry, the stop goes to
best − ``distance`` % of the entry (a short: best + it) when that is nearer than the stop in force: the resting stop
order is cancelled and placed again at the new level (``protective_replace``; the take profit stays where it is). A
level the price is already beyond — the next candle opened past it — cannot rest on an exchange (it would trigger
at once, and Binance refuses such an order): the position is closed at market now, as the backtest fills a bar
opening beyond its stop at that open. The stop never moves back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from market_data.selectors import load_candles, to_ms
from market_data.timeframes import TIMEFRAME_MS
from trading import clock
from trading.exchanges.base import Exchange, OrderRequest
from trading.execution import router
from trading.execution.orders import order_submit
from trading.execution.positions import protective_cancel, protective_replace
from trading.models import Bot, Order, Position

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)
TRAIL_NOTE = "trailing stop"  # on the orders the trail places


def trail_level(
    *, side: str, entry: Decimal, best: Decimal, distance_pct: Decimal, activation_pct: Decimal
) -> Decimal | None:
    """Where the trail puts the stop for this best price; None before the trail starts."""
    sign = 1 if side == Position.Side.LONG else -1
    if sign * (best - entry * (1 + sign * activation_pct / HUNDRED)) < 0:
        return None
    return best - sign * entry * distance_pct / HUNDRED


def position_trail(
    *,
    exchange: Exchange,
    position: Position,
    high: Decimal,
    low: Decimal,
    distance_pct: Decimal,
    activation_pct: Decimal,
    candle_open: datetime,
) -> str:
    """Follow one closed candle (its ``high`` and ``low``) with the position's stop. Returns what it did: "" (the
    stop stays), "moved" or "closed" (the price is already beyond the new stop)."""
    long = position.side == Position.Side.LONG
    before = position.trail_best if position.trail_best is not None else position.entry_price
    best = max(before, high) if long else min(before, low)
    if best != position.trail_best:
        Position.objects.filter(pk=position.pk).update(trail_best=best)
        position.trail_best = best
    level = trail_level(
        side=position.side, entry=position.entry_price, best=best, distance_pct=distance_pct,
        activation_pct=activation_pct,
    )  # fmt: skip
    if level is None:
        return ""
    stop = position.stop_loss
    if stop is not None and (level <= stop if long else level >= stop):
        return ""  # the stop in force is nearer: it never moves back
    stamp = to_ms(candle_open)
    scope = f"trail:{position.pk}"
    price = exchange.fetch_ticker(position.symbol).last
    if price is not None and (price <= level if long else price >= level):
        protective_cancel(exchange, position)
        request = OrderRequest(
            symbol=position.symbol, side="sell" if long else "buy", type="market", amount=position.amount,
            reduce_only=True, client_order_id=router.client_order_id(scope, stamp, "exit"),
        )  # fmt: skip
        order_submit(  # a stop loss that triggers at once: its purpose makes the exit reason "stop_loss"
            exchange=exchange, account=position.exchange_account, request=request, purpose=Order.Purpose.STOP_LOSS,
            source=Order.Source.SYSTEM, bot=position.bot, position=position, note=TRAIL_NOTE,
        )  # fmt: skip
        log.info("trailing stop: position %s closed at market, the price is beyond %s", position.pk, level)
        return "closed"
    protective_replace(
        exchange, position, stop_loss=level, take_profit=position.take_profit, scope=scope, stamp=stamp,
        source=Order.Source.SYSTEM, note=TRAIL_NOTE,
    )  # fmt: skip
    return "moved"


def bot_trail(*, exchange: Exchange, bot: Bot, position: Position | None, candle_open: datetime) -> Order | None:
    """A bot's tick that keeps its position: the trail follows the closed candle (the bot's trailing stop, if it
    has one). Returns the market order when the position had to be closed."""
    if bot.trailing_stop_pct is None or position is None or position.status != Position.Status.OPEN:
        return None
    if position.bot_id != bot.pk or position.exchange_account_id != bot.exchange_account_id:
        return None
    step = timedelta(milliseconds=TIMEFRAME_MS[bot.timeframe])
    candle = load_candles(
        clock.data_exchange(bot.exchange_account.exchange), clock.data_symbol(bot.symbol), bot.timeframe,
        candle_open, candle_open + step,
    )  # fmt: skip
    # No candle, or one that closed before the entry (a fill comes a little after its candle's open on a real
    # exchange: the candle it fell in counts, as in the backtest): nothing to follow.
    if not len(candle) or position.opened_at >= candle_open + step:
        return None
    row = candle.iloc[-1]
    done = position_trail(
        exchange=exchange, position=position, high=Decimal(repr(float(row["high"]))),
        low=Decimal(repr(float(row["low"]))), distance_pct=bot.trailing_stop_pct,
        activation_pct=bot.trailing_activation_pct, candle_open=candle_open,
    )  # fmt: skip
    if done != "closed":
        return None
    return position.orders.filter(purpose=Order.Purpose.STOP_LOSS).order_by("-pk").first()
