"""Fills into Trendy's books: a fill's Trade row and the position it opens, grows, reduces or closes; the paper
exchange's fills and cancellations (``paper_changes_record``, the paper session's recorder)."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts import events
from accounts.models import ExchangeAccount
from market_data.selectors import ms_to_datetime
from trading.exchanges.base import OrderState
from trading.exchanges.paper import Fill
from trading.execution.records import STATUS_FROM_EXCHANGE, order_event, order_state_update
from trading.models import Order, Position, Trade
from trading_site import metrics

log = logging.getLogger(__name__)


def paper_changes_record(
    *, account: ExchangeAccount, fills: list[Fill], orders: list[OrderState], sent: Order | None = None
) -> set[str]:
    """What the paper exchange did (fills, cancellations) into Trendy's orders, positions and trades. ``sent``: the
    order ``order_submit`` just created and sent (its state already recorded on it): its fill is recorded on that
    very row in memory, which has no trade yet. Returns the client order ids written through other copies."""
    stale: set[str] = set()
    for fill in fills:
        if sent is not None and fill.order.client_order_id == sent.client_order_id:
            if not _same_state(sent, fill.order):
                order_state_update(sent, fill.order)
            _fill_from(sent, fill)
            continue
        stale.add(fill.order.client_order_id)
        order = Order.objects.filter(exchange_account=account, client_order_id=fill.order.client_order_id).first()
        if order is None:  # the exchange's own order: a liquidation, or the end of a replay
            order = Order.objects.create(
                user_id=account.user_id,
                exchange_account=account,
                symbol=fill.order.symbol,
                side=fill.order.side,
                type="market",
                purpose=Order.Purpose.EXIT,
                source=Order.Source.SYSTEM,
                amount=fill.amount,
                reduce_only=True,
                client_order_id=fill.order.client_order_id,
                exchange_order_id=fill.order.exchange_order_id,
                created_at=ms_to_datetime(fill.time_ms),
            )
            order_event(order, "created", fill.reason)
        if order.trades.exists():
            continue
        order_state_update(order, fill.order)
        _fill_from(order, fill)
    ended: dict[tuple[str, str], list[str]] = {}  # (status, note) → client order ids: one UPDATE each
    for state in orders:
        if state.status in ("canceled", "expired", "rejected"):
            stale.add(state.client_order_id)
            ended.setdefault((STATUS_FROM_EXCHANGE[state.status], state.reason[:300]), []).append(state.client_order_id)
    for (status, note), client_ids in ended.items():
        Order.objects.filter(
            exchange_account=account, client_order_id__in=client_ids, status__in=Order.OPEN_STATUSES
        ).update(status=status, note=note, updated_at=timezone.now())
    return stale


def _same_state(order: Order, state: OrderState) -> bool:
    """``order_state_update`` would write what the row already holds."""
    return (
        order.exchange_order_id == (state.exchange_order_id or order.exchange_order_id)
        and order.status == STATUS_FROM_EXCHANGE.get(state.status, order.status)
        and (order.filled, order.average_price, order.fee) == (state.filled, state.average, state.fee)
    )


def _fill_from(order: Order, fill: Fill) -> None:
    fill_record(
        order=order,
        price=fill.price,
        amount=fill.amount,
        fee=fill.fee,
        time=ms_to_datetime(fill.time_ms),
        reason=fill.reason,
        realized_pnl=fill.realized_pnl if fill.closed_amount else None,
        margin=fill.opened.margin if fill.opened is not None else None,
        leverage=fill.opened.leverage if fill.opened is not None else None,
    )


@transaction.atomic  # the position is locked (select_for_update): a worker outside a transaction could not
def fill_record(
    *,
    order: Order,
    price: Decimal,
    amount: Decimal,
    fee: Decimal,
    time: datetime,
    reason: str,
    realized_pnl: Decimal | None = None,
    margin: Decimal | None = None,
    leverage: int | None = None,
) -> Trade:
    """One fill: the Trade row, and the position it opens, grows, reduces or closes. ``leverage``: what the
    order was placed with (the exchange's position says; else the bot's, else 1)."""
    account = order.exchange_account
    position = (
        Position.objects.select_for_update()
        .filter(exchange_account=account, symbol=order.symbol, status=Position.Status.OPEN)
        .first()
    )
    pnl = Decimal(0)
    closed = False  # the fill closed (part of) a position: it has a realised pnl to tell
    remaining = amount
    if position is not None and (position.side == Position.Side.LONG) == (order.side == "sell"):
        pnl, remaining = fill_closes(
            position, order, price=price, amount=amount, fee=fee, time=time, reason=reason, realized_pnl=realized_pnl
        )
        closed = True
        position.save()
        order.position = position
    elif position is not None:
        # A fill on the side already held (a bot's pyramiding, or an order whose fill is learnt late, by the
        # reconciler): it grows the position, one entry more; a second open position on one market would break
        # the one-per-market rule. ``margin``, when the exchange says it, is its position's whole margin.
        total = position.amount + amount
        position.entry_price = (position.entry_price * position.amount + price * amount) / total
        position.amount = total
        position.margin = margin if margin is not None else position.margin + amount * price / position.leverage
        position.fees += fee
        position.entries += 1
        position.save()
        order.position = position
        remaining = Decimal(0)
    if remaining > 0:
        position = fill_opens(
            order, price=price, amount=amount, remaining=remaining, fee=fee, time=time, margin=margin, leverage=leverage
        )
        position.save()
        order.position = position
    if order.pk is None:  # sent as a fresh order (``orders_fresh``): its row is inserted now, with its fill
        order.save()
    else:
        order.save(update_fields=["position", "updated_at"])
    order_event(order, "filled", "", at=time, price=str(price), amount=str(amount), fee=str(fee), reason=reason)
    trade = fill_trade(order, amount=amount, price=price, fee=fee, pnl=pnl, time=time)
    trade.save()
    metrics.filled(account.exchange, order.symbol, float(amount * price))
    fill_event(order, price=price, amount=amount, pnl=pnl if closed else None, reason=reason)
    return trade


FILL_EVENTS = {
    "stop_loss": "stop_loss_hit",
    "take_profit": "take_profit_hit",
    "liquidation": "position_liquidated",  # the exchange's own order: the loss reached the margin
    "risk_halt": "position_force_closed",  # Trendy closed it: the bot's drawdown or daily loss limit
}


def fill_event(order: Order, *, price: Decimal, amount: Decimal, pnl: Decimal | None, reason: str) -> None:
    """The user's event for a fill (on commit; no query: the order's ids and fields are in memory). A stop
    loss or take profit filling reads as "SL hit" / "TP hit"; a liquidation as "position liquidated", and the
    close a bot's risk limit forced as "position closed by a risk limit"."""
    if reason not in FILL_EVENTS:
        if order.purpose == Order.Purpose.STOP_LOSS:
            reason = "stop_loss"
        elif order.purpose == Order.Purpose.TAKE_PROFIT:
            reason = "take_profit"
        elif order.note.startswith("risk halt"):
            reason = "risk_halt"
    kind = FILL_EVENTS.get(reason, "order_filled")
    extra = {"position": order.position_id} if kind in ("position_liquidated", "position_force_closed") else {}
    events.emit(
        order.user_id,
        kind,
        **extra,
        order=order.pk,
        symbol=order.symbol,
        side=order.side,
        amount=amount,
        price=price,
        realized_pnl=pnl,
        reason=reason,
    )


def fill_closes(
    position: Position,
    order: Order,
    *,
    price: Decimal,
    amount: Decimal,
    fee: Decimal,
    time: datetime,
    reason: str,
    realized_pnl: Decimal | None,
) -> tuple[Decimal, Decimal]:
    """The part of a fill on the closing side that reduces or closes ``position``, in memory (the caller saves
    it): returns the realised pnl and the amount left over (which opens a position the other way)."""
    closing = min(amount, position.amount)
    share = closing / position.amount
    sign = 1 if position.side == Position.Side.LONG else -1
    exit_fee = fee * (closing / amount)
    if realized_pnl is None:  # net of the exit fee and of the closed share of the entry fee
        gross = sign * closing * (price - position.entry_price)
        realized_pnl = gross - exit_fee - position.fees * share
    pnl = realized_pnl
    position.realized_pnl = (position.realized_pnl or Decimal(0)) + pnl
    position.fees += exit_fee
    position.amount -= closing
    position.margin -= position.margin * share
    if position.amount <= 0:
        position.amount = Decimal(0)
        position.status = Position.Status.CLOSED
        position.closed_at = time
        position.exit_price = price
        position.exit_reason = _exit_reason(order, reason)
    return pnl, amount - closing


def fill_opens(
    order: Order,
    *,
    price: Decimal,
    amount: Decimal,
    remaining: Decimal,
    fee: Decimal,
    time: datetime,
    margin: Decimal | None,
    leverage: int | None,
) -> Position:
    """The position the ``remaining`` part of a fill opens (not saved)."""
    leverage = int(leverage or (order.bot.leverage if order.bot else 1))
    side = Position.Side.LONG if order.side == "buy" else Position.Side.SHORT
    liquidation = None
    if side == Position.Side.LONG and leverage > 1:
        liquidation = price * (1 - Decimal(1) / leverage)
    elif side == Position.Side.SHORT:
        liquidation = price * (1 + Decimal(1) / leverage)
    return Position(
        user_id=order.user_id,
        exchange_account=order.exchange_account,
        bot=order.bot,
        symbol=order.symbol,
        side=side,
        amount=remaining,
        entry_price=price,
        leverage=leverage,
        margin=margin if margin is not None else remaining * price / leverage,
        fees=fee * (remaining / amount),
        mark_price=price,
        opened_at=time,
        liquidation_price=liquidation,
    )


def fill_trade(order: Order, *, amount: Decimal, price: Decimal, fee: Decimal, pnl: Decimal, time: datetime) -> Trade:
    """The fill's Trade row (not saved), on the order's position."""
    return Trade(
        user_id=order.user_id,
        exchange_account=order.exchange_account,
        order=order,
        position=order.position,
        bot=order.bot,
        symbol=order.symbol,
        side=order.side,
        amount=amount,
        price=price,
        fee=fee,
        realized_pnl=pnl,
        time=time,
    )


def _exit_reason(order: Order, reason: str) -> str:
    if reason in ("liquidation", "end", "stop_loss", "take_profit"):
        return reason
    if order.purpose == Order.Purpose.STOP_LOSS:
        return "stop_loss"
    if order.purpose == Order.Purpose.TAKE_PROFIT:
        return "take_profit"
    if order.note.startswith("reversal"):
        return "reversal"
    if order.note.startswith("risk halt"):
        return "risk_halt"
    return "manual" if order.source == Order.Source.MANUAL else "signal"
