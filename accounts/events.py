"""Events: what happened to a user (an order filled, a bot stopped, a subscription ended), told to whoever
listens, once the transaction that made it true has committed.

The lowest layer, so every app can emit without importing the listeners (``notifications`` registers one in its
``ready()``): ``emit`` in a transaction that rolls back is never delivered. A listener that fails is logged; it
never reaches the emitter, whose own work has already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    user_id: int
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], None]
_listeners: list[Listener] = []


def listen(fn: Listener) -> Listener:
    """Register ``fn(event)`` (once, however often an app's ``ready()`` runs); usable as a decorator."""
    if fn not in _listeners:
        _listeners.append(fn)
    return fn


def unlisten(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def plain(value: Any) -> Any:
    """The value as JSON can hold it: decimals as strings (no float rounding of money), times in ISO 8601."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    return str(value)


def emit(user: Any, kind: str, **data: Any) -> Event | None:
    """Queue ``kind`` for ``user`` (a user or a user id) and deliver it to the listeners on commit. Costs no
    query: only the user's primary key is read."""
    user_id = user if isinstance(user, int) else getattr(user, "pk", None)
    if user_id is None:
        return None
    event = Event(user_id=user_id, kind=kind, data=plain(data))
    transaction.on_commit(lambda: deliver(event))
    return event


def deliver(event: Event) -> None:
    """Hand ``event`` to every listener now; one that raises is logged and the others still run."""
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:
            log.exception("event listener failed", extra={"event_kind": event.kind, "user_id": event.user_id})
