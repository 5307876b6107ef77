"""Reads of a user's bots, positions, orders and trades. Every fetch of one row goes through a
``*_get_for_user`` helper: another user's row is a 404, never a 403 (its existence is not revealed)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import ExchangeAccount
from trading.models import Bot, Order, Position, Trade


def bot_list(*, user: Any) -> QuerySet[Bot]:
    return Bot.objects.filter(user=user).select_related("exchange_account")


def bot_get_for_user(*, user: Any, bot_id: int) -> Bot:
    return get_object_or_404(bot_list(user=user), pk=bot_id)


def positions_for_user(*, user: Any, status: str | None = Position.Status.OPEN) -> QuerySet[Position]:
    rows = Position.objects.filter(user=user).select_related("exchange_account", "bot")
    return rows.filter(status=status) if status else rows


def position_get_for_user(*, user: Any, position_id: int) -> Position:
    return get_object_or_404(positions_for_user(user=user, status=None), pk=position_id)


def orders_for_user(*, user: Any, status: str | list[str] | tuple[str, ...] | None = None) -> QuerySet[Order]:
    """``status``: one status, several, or ``"open"`` for the orders still working (pending or open)."""
    rows = Order.objects.filter(user=user).select_related("exchange_account", "bot")
    if status == "open":
        return rows.filter(status__in=Order.OPEN_STATUSES)
    if isinstance(status, (list, tuple)):
        return rows.filter(status__in=status)
    return rows.filter(status=status) if status else rows


def order_get_for_user(*, user: Any, order_id: int) -> Order:
    return get_object_or_404(orders_for_user(user=user), pk=order_id)


def trades_for_user(
    *,
    user: Any,
    symbol: str | None = None,
    side: str | None = None,
    exchange_account: int | None = None,
    bot: int | None = None,
    since: Any = None,
    until: Any = None,
) -> QuerySet[Trade]:
    """The user's fills, newest first; another user's account or bot id simply matches nothing."""
    rows = Trade.objects.filter(user=user).select_related("exchange_account", "bot", "order")
    if symbol:
        rows = rows.filter(symbol=symbol.upper())
    if side:
        rows = rows.filter(side=side)
    if exchange_account:
        rows = rows.filter(exchange_account_id=exchange_account)
    if bot:
        rows = rows.filter(bot_id=bot)
    if since:
        rows = rows.filter(time__gte=since)
    if until:
        rows = rows.filter(time__lt=until)
    return rows.order_by("-time", "-id")


def exchange_accounts_enabled(*, user: Any) -> QuerySet[ExchangeAccount]:
    return ExchangeAccount.objects.filter(user=user, enabled=True).order_by("label", "id")
