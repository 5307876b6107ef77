"""Placing an order without ever doubling it (pure: no Django).

An order create is never retried blindly: when it times out (or fails in a way that may still have
reached the exchange), the order is first looked up by its client order id. Only when the exchange
says it has no such order is the create sent again, once, with the same client order id, so the
exchange itself refuses a duplicate.
"""

from __future__ import annotations

from .base import Exchange, OrderRequest, OrderState
from .errors import ExchangeError, OrderNotFound, TemporaryError


def submit_order(exchange: Exchange, request: OrderRequest) -> OrderState:
    """Create the order; after a ``TemporaryError`` look it up, and re-send once only if it is not there.

    Raises the create's own error when the lookup fails too (the order's fate is then unknown: the
    reconciler settles it later), and whatever the second create raises.
    """
    try:
        return exchange.create_order(request)
    except TemporaryError as exc:
        first_error = exc
    try:
        return exchange.fetch_order(request.symbol, client_order_id=request.client_order_id)
    except OrderNotFound:
        pass
    except ExchangeError as lookup_error:
        raise first_error from lookup_error
    return exchange.create_order(request)
