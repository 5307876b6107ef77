"""Positions: open one (size it, send the entry, protect it with a stop loss and take profit), close one, move its
stops; the stops the loop watches where the exchange cannot hold them. Bots, alerts and people all call these."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ExchangeAccount, RiskProfile
from market_data.selectors import to_ms
from trading import clock
from trading.exchanges.base import Exchange, Market, OrderRequest
from trading.exchanges.errors import (
    ExchangeError,
    InvalidOrder,
    TemporaryError,
)
from trading.execution import router
from trading.execution.adapters import exchange_session
from trading.execution.equity import account_equity
from trading.execution.orders import order_cancel, order_submit
from trading.execution.records import notify
from trading.models import Bot, Order, Position
from trading.models.fields import as_stored_row

log = logging.getLogger(__name__)


def open_position(account: ExchangeAccount, symbol: str) -> Position | None:
    """The account's open position on the market, with its account and bot (what closing it needs)."""
    return (
        Position.objects.select_related("exchange_account", "bot")
        .filter(exchange_account=account, symbol=symbol, status=Position.Status.OPEN)
        .first()
    )


def has_open_position(account: ExchangeAccount, symbol: str) -> bool:
    return Position.objects.filter(exchange_account=account, symbol=symbol, status=Position.Status.OPEN).exists()


def risk_envelope(user: Any) -> router.Envelope:
    try:
        profile = user.risk_profile  # read with the user when the caller asked for it (the loop's batch)
    except RiskProfile.DoesNotExist:
        profile = RiskProfile.objects.get_or_create(user=user)[0]
    return router.Envelope(
        max_leverage=int(profile.leverage),
        max_position_size_pct=profile.position_size_pct,
        default_stop_loss_pct=profile.stop_loss_pct,
        default_take_profit_pct=profile.take_profit_pct,
    )


def slippage_bps(account: ExchangeAccount, exchange: Exchange | None = None) -> Decimal:
    if account.is_paper:
        from trading.paper.store import wallet_for

        known = getattr(exchange, "slippage_bps", None)  # the paper exchange's, from the same wallet row
        if known is not None:
            return known

        return wallet_for(account).slippage_bps
    return Decimal(settings.TRENDY_LIVE_SLIPPAGE_BPS)


def close_position(
    exchange: Exchange,
    position: Position,
    *,
    client_id: str,
    note: str,
    source: str,
    candle_open: datetime | None = None,
) -> Order:
    side = "sell" if position.side == Position.Side.LONG else "buy"
    request = OrderRequest(
        symbol=position.symbol,
        side=side,
        type="market",
        amount=position.amount,
        client_order_id=client_id,
        reduce_only=True,
    )
    return order_submit(
        exchange=exchange,
        account=position.exchange_account,
        request=request,
        purpose=Order.Purpose.EXIT,
        source=source,
        bot=position.bot,
        position=position,
        candle_open=candle_open,
        note=note,
    )


def position_open(
    *,
    exchange: Exchange,
    account: ExchangeAccount,
    symbol: str,
    side: str,
    capped: router.Capped,
    client_id: str,
    bot: Bot | None = None,
    source: str = Order.Source.BOT,
    candle_open: datetime | None = None,
    note: str = "",
) -> Order:
    """Size an entry from the account's balance, send it, then place and verify its stop loss and take
    profit. Used by bots, TradingView alerts and people alike."""
    request, note = entry_request(
        exchange=exchange, account=account, symbol=symbol, side=side, capped=capped, client_id=client_id, note=note
    )
    order = order_submit(
        exchange=exchange, account=account, request=request, purpose=Order.Purpose.ENTRY, source=source, bot=bot,
        candle_open=candle_open, note=note,
    )  # fmt: skip
    if order.status == Order.Status.FILLED and order.position_id and not account.is_paper:
        _set_leverage(Position.objects.get(pk=order.position_id), capped.leverage)
    if order.status == Order.Status.FILLED and order.position_id:
        if Order.position.is_cached(order):  # the fill was recorded on this order in memory, with its position
            position = as_stored_row(order.position)
        else:
            position = Position.objects.select_related("exchange_account", "bot").get(pk=order.position_id)
        protect(exchange=exchange, position=position, capped=capped, client_id=client_id)
    return order


def entry_request(
    *, exchange: Exchange, account: ExchangeAccount, symbol: str, side: str, capped: router.Capped, client_id: str,
    note: str,
) -> tuple[OrderRequest, str]:  # fmt: skip
    """The entry order, sized from the account's balance at the current price (the leverage set on the exchange
    first), and the order's note with the risk envelope's adjustments."""
    market: Market = exchange.market(symbol)
    if capped.adjustments:
        note = (note + " " if note else "") + "; ".join(str(a) for a in capped.adjustments)
        log.info("risk envelope adjusted an order", extra={"adjustments": [str(a) for a in capped.adjustments]})
    if exchange.capabilities.set_leverage:
        exchange.set_leverage(symbol, capped.leverage)
    balance, _equity = account_equity(exchange, account)
    order_side = "buy" if side == "long" else "sell"
    price = exchange.fetch_ticker(symbol).last
    sized = router.size_entry(
        market=market,
        side=order_side,
        equity=balance,
        capped=capped,
        price=price,
        slippage_bps=slippage_bps(account, exchange),
    )
    request = OrderRequest(
        symbol=symbol, side=order_side, type="market", amount=sized.amount, client_order_id=client_id
    )
    return request, note


def protection(
    exchange: Exchange, position: Position, capped: router.Capped
) -> tuple[Decimal | None, Decimal | None, list[tuple[str, Decimal, str, str]]]:
    """The stop loss and take profit levels of a position just opened, and the exchange orders that hold them
    where the market has them: (type, trigger, purpose, leg) each."""
    market = exchange.market(position.symbol)
    stop, take = router.protective_levels(
        market=market,
        side=position.side,
        entry_price=position.entry_price,
        stop_loss_pct=capped.stop_loss_pct,
        take_profit_pct=capped.take_profit_pct,
        levels=capped.levels,
    )
    wanted = []
    if stop is not None and exchange.capabilities.stop_orders:
        wanted.append(("stop_market", stop, Order.Purpose.STOP_LOSS, "sl"))
    if take is not None and exchange.capabilities.take_profit_orders:
        wanted.append(("take_profit", take, Order.Purpose.TAKE_PROFIT, "tp"))
    return stop, take, wanted


def protective_request(position: Position, kind: str, level: Decimal, client_id: str, leg: str) -> OrderRequest:
    return OrderRequest(
        symbol=position.symbol,
        side="sell" if position.side == Position.Side.LONG else "buy",
        type=kind,
        amount=position.amount,
        client_order_id=router.client_order_id(client_id, position.pk, leg),
        trigger_price=level,
        reduce_only=True,
    )


def _set_leverage(position: Position, leverage: int) -> None:
    """A real exchange's fill says nothing of leverage: the position gets what the order was placed with."""
    if position.leverage == leverage:
        return
    position.leverage = leverage
    position.margin = position.amount * position.entry_price / leverage
    if position.side == Position.Side.LONG:
        position.liquidation_price = position.entry_price * (1 - Decimal(1) / leverage) if leverage > 1 else None
    else:
        position.liquidation_price = position.entry_price * (1 + Decimal(1) / leverage)
    position.save(update_fields=["leverage", "margin", "liquidation_price", "updated_at"])


def protect(*, exchange: Exchange, position: Position, capped: router.Capped, client_id: str) -> None:
    """Stop loss and take profit from the entry fill: exchange-native orders where the market has them
    (then verified on the exchange, retried once, and the position closed if they still are not
    there); otherwise stored on the position and watched by the loop on every tick."""
    stop, take, wanted = protection(exchange, position, capped)
    Position.objects.filter(pk=position.pk).update(stop_loss=stop, take_profit=take)
    position.stop_loss, position.take_profit = stop, take
    for kind, level, purpose, leg in wanted:
        placed = False
        # A fresh client order id only after the exchange refused one; after a transient failure the same id
        # again, which order_submit looks up before it sends anything (the first one may rest there already).
        attempt = 0
        for _try in range(2):
            request = protective_request(position, kind, level, client_id, f"{leg}{attempt}")
            try:
                order = order_submit(
                    exchange=exchange, account=position.exchange_account, request=request, purpose=purpose,
                    source=Order.Source.SYSTEM, bot=position.bot, position=position,
                )  # fmt: skip
            except (InvalidOrder, TemporaryError) as exc:
                log.warning("protective order failed", extra={"position_id": position.pk, "error": exc.message})
                attempt += isinstance(exc, InvalidOrder)
                continue
            placed = _verified(exchange, order)
            if placed:
                break
            attempt += order.status in (Order.Status.REJECTED, Order.Status.CANCELED, Order.Status.EXPIRED)
        if not placed:
            position.refresh_from_db()
            if position.status == Position.Status.OPEN:
                close_position(
                    exchange, position, client_id=router.client_order_id(client_id, position.pk, "unprotected"),
                    note="unprotected", source=Order.Source.SYSTEM,
                )  # fmt: skip
                notify(position.user, "unprotected_position_closed", position=position.pk)
            return


def _verified(exchange: Exchange, order: Order) -> bool:
    """Does the protective order really rest on the exchange?"""
    if order.status != Order.Status.OPEN:
        return order.status == Order.Status.FILLED
    try:
        state = exchange.fetch_order(order.symbol, client_order_id=order.client_order_id)
    except ExchangeError:
        return False
    return state.status in ("open", "closed")


def watch_stops(*, now: datetime | None = None) -> int:
    """Stop loss and take profit the exchange could not hold natively (no stop orders on that market):
    the loop compares them with the price every tick and closes the position with a market order.
    Returns how many positions it closed."""
    closed = 0
    protective = Order.objects.filter(
        position=OuterRef("pk"),
        status__in=Order.OPEN_STATUSES,
        purpose__in=[Order.Purpose.STOP_LOSS, Order.Purpose.TAKE_PROFIT],
    )
    watched = (
        Position.objects.filter(status=Position.Status.OPEN, exchange_account__enabled=True)
        .exclude(exchange_account__exchange=ExchangeAccount.PAPER)
        .filter(Q(stop_loss__isnull=False) | Q(take_profit__isnull=False))
        .annotate(has_orders=Exists(protective))
        .filter(has_orders=False)
        .select_related("exchange_account", "bot")
    )
    for position in watched:
        try:
            price = clock.current_price(position.exchange_account.exchange, position.symbol)
        except ExchangeError:
            continue
        long = position.side == Position.Side.LONG
        reason = ""
        if position.stop_loss is not None and (price <= position.stop_loss if long else price >= position.stop_loss):
            reason = "stop_loss"
        elif position.take_profit is not None and (
            price >= position.take_profit if long else price <= position.take_profit
        ):
            reason = "take_profit"
        if not reason:
            continue
        purpose = Order.Purpose.STOP_LOSS if reason == "stop_loss" else Order.Purpose.TAKE_PROFIT
        with exchange_session(position.exchange_account) as exchange:
            side = "sell" if long else "buy"
            request = OrderRequest(
                symbol=position.symbol, side=side, type="market", amount=position.amount, reduce_only=True,
                client_order_id=router.client_order_id(f"position:{position.pk}", "watched", reason),
            )  # fmt: skip
            try:
                order_submit(
                    exchange=exchange, account=position.exchange_account, request=request, purpose=purpose,
                    source=Order.Source.SYSTEM, bot=position.bot, position=position, note=reason,
                )  # fmt: skip
            except ExchangeError as exc:
                log.warning("watched stop failed", extra={"position_id": position.pk, "error": exc.message})
                continue
        closed += 1
        notify(position.user, reason, position=position.pk)
    return closed


def position_close(*, position: Position, source: str = Order.Source.MANUAL) -> Order:
    """Close a position now with a market order; its protective orders are cancelled."""
    if position.status != Position.Status.OPEN:
        raise ValidationError(_("This position is already closed."))
    with exchange_session(position.exchange_account) as exchange:
        position = Position.objects.get(pk=position.pk)
        if position.status != Position.Status.OPEN:
            raise ValidationError(_("This position is already closed."))
        protective_cancel(exchange, position)
        client_id = router.client_order_id(f"position:{position.pk}", "close", "manual")
        return close_position(exchange, position, client_id=client_id, note="manual close", source=source)


def protective_cancel(exchange: Exchange, position: Position) -> None:
    for order in position.orders.filter(
        status__in=Order.OPEN_STATUSES, purpose__in=[Order.Purpose.STOP_LOSS, Order.Purpose.TAKE_PROFIT]
    ):
        order_cancel(order=order, exchange=exchange)


def position_update_sl_tp(*, position: Position, stop_loss: Decimal | None, take_profit: Decimal | None) -> Position:
    """Move the stop loss / take profit (prices): the old protective orders are cancelled and new ones
    placed. A level on the wrong side of the price is refused."""
    if position.status != Position.Status.OPEN:
        raise ValidationError(_("This position is closed."))
    with exchange_session(position.exchange_account) as exchange:
        price = exchange.fetch_ticker(position.symbol).last
        long = position.side == Position.Side.LONG
        errors = {}
        if stop_loss is not None and (stop_loss <= 0 or (stop_loss >= price if long else stop_loss <= price)):
            errors["stop_loss"] = [
                _("A stop loss must be %(side)s the current price %(price)s.")
                % {"side": _("below") if long else _("above"), "price": price}
            ]
        if take_profit is not None and (take_profit <= 0 or (take_profit <= price if long else take_profit >= price)):
            errors["take_profit"] = [
                _("A take profit must be %(side)s the current price %(price)s.")
                % {"side": _("above") if long else _("below"), "price": price}
            ]
        if errors:
            raise ValidationError(errors)
        protective_replace(
            exchange, position, stop_loss=stop_loss, take_profit=take_profit, scope=f"position:{position.pk}",
            stamp=to_ms(timezone.now()), source=Order.Source.MANUAL,
        )  # fmt: skip
    position.refresh_from_db()
    return position


def protective_replace(
    exchange: Exchange,
    position: Position,
    *,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    scope: str,
    stamp: Any,
    source: str,
    note: str = "",
) -> None:
    """Cancel a position's protective orders and place them again at these levels, where the market has such orders
    (as ``protect``); the levels are stored on the position either way (the loop watches those it cannot place)."""
    protective_cancel(exchange, position)
    market = exchange.market(position.symbol)
    for kind, level, purpose, capable in (
        ("stop_market", stop_loss, Order.Purpose.STOP_LOSS, exchange.capabilities.stop_orders),
        ("take_profit", take_profit, Order.Purpose.TAKE_PROFIT, exchange.capabilities.take_profit_orders),
    ):
        if level is None or not capable:
            continue
        request = OrderRequest(
            symbol=position.symbol, side="sell" if position.side == Position.Side.LONG else "buy", type=kind,
            amount=position.amount, reduce_only=True, trigger_price=market.round_price(level),
            client_order_id=router.client_order_id(scope, stamp, kind),
        )  # fmt: skip
        order_submit(
            exchange=exchange, account=position.exchange_account, request=request, purpose=purpose,
            source=source, bot=position.bot, position=position, note=note,
        )  # fmt: skip
    Position.objects.filter(pk=position.pk).update(stop_loss=stop_loss, take_profit=take_profit)
    position.stop_loss, position.take_profit = stop_loss, take_profit
