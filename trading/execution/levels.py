"""A strategy's own stop and target that move from candle to candle (the backtest's rule 13), on the live path.

The signal of each closed candle carries, per side, a level as a × the position's average entry + b (a Pine
script's ``strategy.exit(stop=, limit=)`` that moves: an ATR stop, the last lows). The entry places the signal
candle's levels from its fill (``router.protective_levels`` with ``Capped.levels``); after every later closed
candle the bot moves its resting stop loss and take profit to that candle's levels — cancelled and placed again
(``protective_replace``) — as the backtest does after each close; they may loosen as well as tighten, as the
script says. A level the price is already beyond cannot rest on an exchange (a stop would trigger at once, and
Binance refuses it): the position is closed now, as the backtest fills a bar opening beyond a level at that open —
at market for a stop, with a limit order at the target for a target (it fills at once, at the price or better).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from market_data.selectors import to_ms
from strategies.interface import LEVEL_COLUMNS
from trading.exchanges.base import Exchange, OrderRequest
from trading.exchanges.errors import ExchangeError
from trading.execution import router
from trading.execution.orders import order_cancel, order_submit
from trading.execution.positions import close_position, protective_cancel, protective_replace
from trading.execution.trailing import bot_trail
from trading.models import Bot, Order, Position

log = logging.getLogger(__name__)

LEVELS_NOTE = "strategy levels"  # on the orders this places


def signal_levels(signal: Mapping[str, object] | None) -> dict[str, float | None] | None:
    """The level columns of a signal row (None: the strategy gives none)."""
    if not signal or LEVEL_COLUMNS[0] not in signal:
        return None
    return {name: signal.get(name) for name in LEVEL_COLUMNS}  # type: ignore[misc]


def position_levels(
    *, exchange: Exchange, position: Position, levels: Mapping[str, float | None], candle_open: datetime
) -> str:
    """Move the position's stop loss and take profit to the closed candle's levels. Returns what it did: "" (they
    stay where they are), "moved" or "closed" (the price is already beyond one of them)."""
    market = exchange.market(position.symbol)
    stop, take = router.protective_levels(
        market=market, side=position.side, entry_price=position.entry_price, stop_loss_pct=None,
        take_profit_pct=None, levels=levels,
    )  # fmt: skip
    if stop == position.stop_loss and take == position.take_profit:
        return ""
    long = position.side == Position.Side.LONG
    price = exchange.fetch_ticker(position.symbol).last
    stopped = stop is not None and price is not None and (price <= stop if long else price >= stop)
    taken = take is not None and price is not None and (price >= take if long else price <= take)
    stamp = to_ms(candle_open)
    scope = f"levels:{position.pk}"
    if stopped or taken:
        protective_cancel(exchange, position)
        request = OrderRequest(
            symbol=position.symbol, side="sell" if long else "buy", type="market" if stopped else "limit",
            amount=position.amount, price=None if stopped else take, reduce_only=True,
            client_order_id=router.client_order_id(scope, stamp, "exit"),
        )  # fmt: skip
        order = order_submit(  # the purpose makes the exit reason "stop_loss" or "take_profit", as in the backtest
            exchange=exchange, account=position.exchange_account, request=request,
            purpose=Order.Purpose.STOP_LOSS if stopped else Order.Purpose.TAKE_PROFIT, source=Order.Source.SYSTEM,
            bot=position.bot, position=position, note=LEVELS_NOTE,
        )  # fmt: skip
        if not stopped and order.status != Order.Status.FILLED:
            _close_the_rest(exchange, position, order, scope, stamp)
        log.info("strategy levels: position %s closed, the price %s is beyond %s", position.pk, price, stop or take)
        return "closed"
    protective_replace(
        exchange, position, stop_loss=stop, take_profit=take, scope=scope, stamp=stamp, source=Order.Source.SYSTEM,
        note=LEVELS_NOTE,
    )  # fmt: skip
    return "moved"


def _close_the_rest(exchange: Exchange, position: Position, order: Order, scope: str, stamp: int) -> None:
    """The target's limit did not fill at once (the price turned back in between): the position never stays
    without its stop — the limit is cancelled and what is left closes at market."""
    if order.status in Order.OPEN_STATUSES:
        try:
            order_cancel(order=order, exchange=exchange)
        except ExchangeError:
            log.warning("strategy levels: the target order %s could not be cancelled", order.pk)
    position.refresh_from_db()
    if position.status == Position.Status.OPEN:
        close_position(
            exchange, position, client_id=router.client_order_id(scope, stamp, "rest"), note=LEVELS_NOTE,
            source=Order.Source.SYSTEM,
        )  # fmt: skip


def bot_follow(
    *, exchange: Exchange, bot: Bot, held: Position | None, signal: Mapping[str, object], candle_open: datetime
) -> Order | None:
    """A bot's tick that keeps its position: the stop and target move to the strategy's levels of the closed candle
    (when it gives them), then the trailing stop follows the candle (the nearer of the two acts, as in the
    backtest). Returns the order that closed the position, if one did."""
    levels = signal_levels(signal)
    mine = held is not None and held.status == Position.Status.OPEN and held.bot_id == bot.pk
    if levels is not None and mine and held.exchange_account_id == bot.exchange_account_id:
        done = position_levels(exchange=exchange, position=held, levels=levels, candle_open=candle_open)
        if done == "closed":
            return held.orders.exclude(purpose=Order.Purpose.ENTRY).order_by("-pk").first()
    return bot_trail(exchange=exchange, bot=bot, position=held, candle_open=candle_open)
