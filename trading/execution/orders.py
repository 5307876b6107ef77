"""Where an order is placed: ``order_submit`` stores the order before the exchange hears of it, sends it once
(a client order id seen before returns the stored order), and records the answer; ``order_cancel``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import events
from accounts.models import ExchangeAccount
from market_data.selectors import ms_to_datetime
from trading import clock
from trading.exchanges.base import Exchange, OrderRequest
from trading.exchanges.errors import (
    AuthenticationError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    TemporaryError,
)
from trading.execution.adapters import exchange_session
from trading.execution.fills import fill_record
from trading.execution.records import flush, order_event, order_state_update
from trading.models import Bot, Order, Position
from trading.models.fields import as_stored_row
from trading.paper.store import client_id_unused, client_ids_tracked
from trading_site import metrics

log = logging.getLogger(__name__)


def _refusal(exc: Exception) -> str:
    """The exchange's refusal as trendy_order_failures_total's reason."""
    if isinstance(exc, InsufficientFunds):
        return "insufficient_funds"
    if isinstance(exc, AuthenticationError):
        return "authentication"
    return "invalid_order"


_fresh: ContextVar[bool] = ContextVar("trendy_orders_fresh", default=False)


@contextmanager
def orders_fresh() -> Iterator[None]:
    """Inside, every paper order sent is new: its client order id was never used. The loop's batch says so for a
    bot's tick on a candle it has just claimed (on paper the claim commits with the orders, so none of that
    candle's ids can be stored; protective orders take the id of a position opened in the same tick).
    ``order_submit`` then inserts the row without looking for an earlier one, and the paper exchange does not
    look for the id among its past orders. Were the belief ever wrong, the insert would break the unique
    (account, client order id) constraint and the batch would run the tick again the careful way."""
    token = _fresh.set(True)
    try:
        with client_ids_tracked():
            yield
    finally:
        _fresh.reset(token)


def order_submit(
    *,
    exchange: Exchange,
    account: ExchangeAccount,
    request: OrderRequest,
    purpose: str,
    source: str = Order.Source.BOT,
    bot: Bot | None = None,
    position: Position | None = None,
    candle_open: datetime | None = None,
    note: str = "",
) -> Order:
    """Store the order (the row exists before the exchange hears of it), then send it. The same client
    order id twice returns the stored order instead of sending a second one. Exchange errors end in a
    clear state: rejected (with the reason) or pending (unknown: the reconciler looks it up)."""
    fields = order_fields(
        account=account, request=request, purpose=purpose, source=source, bot=bot, position=position,
        candle_open=candle_open, note=note,
    )  # fmt: skip
    if _fresh.get() and account.is_paper:
        # A new client order id: no earlier row to look for. On paper the row and the book commit together, so
        # the row is inserted once, with the exchange's answer (and its fill, by ``fill_record``), not before.
        order = Order(exchange_account=account, client_order_id=request.client_order_id, **fields)
        created = True
        client_id_unused(account.pk, request.client_order_id)
    else:
        order, created = Order.objects.get_or_create(
            exchange_account=account, client_order_id=request.client_order_id, defaults=fields
        )
    if not created and order.status != Order.Status.PENDING:
        return order  # already sent and answered: never twice
    order_event(order, "created" if created else "resent", note)
    sent = created  # the exchange hears of it now (a retry may find it there already)
    try:
        if created:
            state = exchange.create_order(request)
        else:  # a retry: the first attempt may have reached the exchange
            try:
                state = exchange.fetch_order(request.symbol, client_order_id=request.client_order_id)
            except OrderNotFound:
                sent = True
                state = exchange.create_order(request)
    except (InvalidOrder, InsufficientFunds, AuthenticationError) as exc:
        metrics.order_answered(account.exchange, request.side, "rejected", reason=_refusal(exc))
        order.status = Order.Status.REJECTED
        order.note = exc.message[:300]
        order.save(**({"update_fields": ["status", "note", "updated_at"]} if order.pk else {}))
        order_event(order, "rejected", exc.message, error=type(exc).__name__)
        events.emit(
            account.user_id, "order_rejected", order=order.pk, symbol=order.symbol, side=order.side,
            amount=order.amount, reason=exc.message[:300], error=type(exc).__name__,
        )  # fmt: skip
        raise
    except TemporaryError as exc:
        metrics.order_answered(account.exchange, request.side, "failed", reason="temporary")
        if order.pk is None:
            order.save()
        order_event(order, "send_failed", exc.message, error=type(exc).__name__)
        raise
    if sent:
        metrics.order_answered(account.exchange, request.side, "filled" if state.filled > 0 else "open")
    order_state_update(order, state)
    order_event(order, "acknowledged", "", status=state.status, exchange_order_id=state.exchange_order_id)
    stale = flush(exchange, sent=order if created else None)
    if order.pk is None:
        order.save()  # fresh, and not filled (a resting order): its row now
    if created and account.is_paper and order.client_order_id not in stale:
        # the paper fill was recorded on this very row in memory: nothing to read again but the decimals' rounding
        return as_stored_row(order)
    if not account.is_paper and state.status == "closed" and state.filled > 0:
        fill_record(
            order=Order.objects.get(pk=order.pk),
            price=state.average or request.price or Decimal(0),
            amount=state.filled,
            fee=state.fee,
            time=ms_to_datetime(state.updated_ms) if state.updated_ms else clock.now(),
            reason="market",
        )
    order.refresh_from_db()
    return order


def order_fields(
    *,
    account: ExchangeAccount,
    request: OrderRequest,
    purpose: str,
    source: str,
    bot: Bot | None,
    position: Position | None,
    candle_open: datetime | None,
    note: str,
) -> dict[str, Any]:
    """An order row's values before it is sent (besides its account and client order id)."""
    return {
        "user_id": account.user_id,
        "bot": bot,
        "position": position,
        "symbol": request.symbol,
        "side": request.side,
        "type": request.type,
        "purpose": purpose,
        "source": source,
        "amount": request.amount,
        "price": request.price,
        "trigger_price": request.trigger_price,
        "reduce_only": request.reduce_only,
        "candle_open": candle_open,
        "note": note[:300],
        "created_at": clock.now(),
    }


def order_cancel(*, order: Order, exchange: Exchange | None = None) -> Order:
    if not order.is_open:
        raise ValidationError(
            _("Only an open order can be cancelled (this one is %(status)s).") % {"status": order.get_status_display()}
        )
    if exchange is None:
        with exchange_session(order.exchange_account) as session:
            return order_cancel(order=order, exchange=session)
    with contextlib.suppress(OrderNotFound):  # already gone on the exchange: cancelled for us too
        exchange.cancel_order(order.symbol, client_order_id=order.client_order_id)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELED, updated_at=timezone.now())
    order_event(order, "canceled", "cancelled by request")
    flush(exchange)
    order.refresh_from_db()
    return order
