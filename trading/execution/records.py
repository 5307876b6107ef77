"""An order's history and state, as the exchange reports them, and the trading events written to the log.
The lowest layer of execution: orders, fills and positions all write through these."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from accounts import events as user_events
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


_buffer: ContextVar[list[OrderEvent] | None] = ContextVar("trendy_order_events_buffered", default=None)


@contextmanager
def events_buffered() -> Iterator[list[OrderEvent]]:
    """Inside, ``order_event`` collects the events instead of inserting each: the caller writes them
    (``events_write``) once the block's rows are sure to stay (the loop's batch, after each bot's tick)."""
    events: list[OrderEvent] = []
    token = _buffer.set(events)
    try:
        yield events
    finally:
        _buffer.reset(token)


def events_write(events: list[OrderEvent]) -> None:
    """Collected events in one INSERT, in the order they happened."""
    if events:
        OrderEvent.objects.bulk_create(events)


def notify(user: Any, kind: str, **data: Any) -> None:
    """A trading event: a log line now, and an event for the user (``accounts.events``) once committed."""
    log.info(
        "trading event %s",
        kind,
        extra={"user_id": getattr(user, "pk", None), **{f"event_{k}": v for k, v in data.items()}},
    )
    user_events.emit(user, kind, **data)


def order_event(order: Order, kind: str, message: str = "", at: datetime | None = None, **data: Any) -> None:
    """An entry in the order's history, at market time: ``at`` (a fill's own time, the one its trade carries)
    or the clock's now."""
    event = OrderEvent(order=order, kind=kind, message=message[:500], data=data, time=at or clock.now())
    buffer = _buffer.get()
    if buffer is None:
        event.save()
    else:
        buffer.append(event)


def order_state_update(order: Order, state: OrderState) -> None:
    order.exchange_order_id = state.exchange_order_id or order.exchange_order_id
    status = STATUS_FROM_EXCHANGE.get(state.status, order.status)
    order.status = status
    order.filled = state.filled
    order.average_price = state.average
    order.fee = state.fee
    if order.pk is not None:  # an order not stored yet (``orders_fresh``) is inserted with these values
        order.save(update_fields=["exchange_order_id", "status", "filled", "average_price", "fee", "updated_at"])


def flush(exchange: Exchange, *, sent: Order | None = None) -> set[str]:
    """Record what a paper exchange did so far (no-op for real exchanges: their fills are read back). ``sent``: an
    order just created and sent, up to date: its fill is recorded on it, not on a copy read again. Returns the
    client order ids whose rows were written some other way (a copy of ``sent`` in memory is then stale)."""
    hook = getattr(exchange, "flush", None)
    if hook is not None:
        return hook(sent=sent) or set()
    return set()
