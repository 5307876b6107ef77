"""An order's history and state, as the exchange reports them, and the trading events written to the log.
The lowest layer of execution: orders, fills and positions all write through these."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from trading import clock
from trading.exchanges.base import Exchange, OrderState
from trading.models import Order, OrderEvent

log = logging.getLogger(__name__)

STATUS_FROM_EXCHANGE = {
    "open": Order.Status.OPEN,
    "closed": Order.Status.FILLED,
    "canceled": Order.Status.CANCELED,
    "rejected": Order.Status.REJECTED,
    "expired": Order.Status.EXPIRED,
}


def notify(user: Any, kind: str, **data: Any) -> None:
    log.info(
        "trading event %s",
        kind,
        extra={"user_id": getattr(user, "pk", None), **{f"event_{k}": v for k, v in data.items()}},
    )


def order_event(order: Order, kind: str, message: str = "", at: datetime | None = None, **data: Any) -> None:
    """An entry in the order's history, at market time: ``at`` (a fill's own time, the one its trade carries)
    or the clock's now."""
    OrderEvent.objects.create(order=order, kind=kind, message=message[:500], data=data, time=at or clock.now())


def order_state_update(order: Order, state: OrderState) -> None:
    order.exchange_order_id = state.exchange_order_id or order.exchange_order_id
    status = STATUS_FROM_EXCHANGE.get(state.status, order.status)
    order.status = status
    order.filled = state.filled
    order.average_price = state.average
    order.fee = state.fee
    order.save(update_fields=["exchange_order_id", "status", "filled", "average_price", "fee", "updated_at"])


def flush(exchange: Exchange) -> None:
    """Record what a paper exchange did so far (no-op for real exchanges: their fills are read back)."""
    hook = getattr(exchange, "flush", None)
    if hook is not None:
        hook()
