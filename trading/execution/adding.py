"""Pyramiding on the live path: another entry in the direction a bot holds (the backtest's rule 2). Bots call it;
the position grows in ``trading.execution.fills`` (its average entry, one entry more)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from market_data.selectors import to_ms
from trading.exchanges.base import Exchange, Market, OrderRequest
from trading.execution import router
from trading.execution.equity import account_equity
from trading.execution.orders import order_submit
from trading.execution.positions import protective_replace, slippage_bps
from trading.models import Bot, Order, Position


def position_add(
    *,
    exchange: Exchange,
    position: Position,
    capped: router.Capped,
    client_id: str,
    bot: Bot | None = None,
    candle_open: datetime | None = None,
) -> Order:
    """Another entry in the direction held (a bot's pyramiding): sized as an entry from the account's equity at
    the current price (the balance and the open position's unrealised pnl, the backtest's rule 2); the position
    grows (its entry price is the average), and its stop loss and take profit are placed again from that average
    for the whole amount."""
    account = position.exchange_account
    market: Market = exchange.market(position.symbol)
    _balance, equity = account_equity(exchange, account)
    side = "buy" if position.side == Position.Side.LONG else "sell"
    price = exchange.fetch_ticker(position.symbol).last
    sized = router.size_entry(
        market=market, side=side, equity=equity, capped=capped, price=price,
        slippage_bps=slippage_bps(account, exchange),
    )  # fmt: skip
    request = OrderRequest(
        symbol=position.symbol, side=side, type="market", amount=sized.amount, client_order_id=client_id
    )
    order = order_submit(
        exchange=exchange, account=account, request=request, purpose=Order.Purpose.ENTRY, source=Order.Source.BOT,
        bot=bot, position=position, candle_open=candle_open, note="add",
    )  # fmt: skip
    if order.status != Order.Status.FILLED:
        return order
    position = Position.objects.select_related("exchange_account", "bot").get(pk=position.pk)
    if position.status != Position.Status.OPEN:
        return order
    stop, take = router.protective_levels(
        market=market, side=position.side, entry_price=position.entry_price, stop_loss_pct=capped.stop_loss_pct,
        take_profit_pct=capped.take_profit_pct, levels=capped.levels,
    )  # fmt: skip
    protective_replace(
        exchange, position, stop_loss=stop, take_profit=take, scope=f"add:{position.pk}",
        stamp=to_ms(candle_open) if candle_open else "now", source=Order.Source.SYSTEM,
    )  # fmt: skip
    liquidation = None  # the average entry moved it (as the exchange's own position)
    if position.leverage > 1 or position.side == Position.Side.SHORT:
        sign = -1 if position.side == Position.Side.LONG else 1
        liquidation = position.entry_price * (1 + sign * Decimal(1) / position.leverage)
    Position.objects.filter(pk=position.pk).update(liquidation_price=liquidation)
    return order
