"""Reads of a user's webhook endpoints and the events they received. Every fetch of one row goes through a
``*_get_for_user`` helper: another user's row is a 404 (its existence is not revealed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from webhooks import validation
from webhooks.models import WebhookEndpoint, WebhookEvent


def endpoint_list(*, user: Any) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(user=user).select_related("exchange_account", "bot")


def endpoint_get_for_user(*, user: Any, endpoint_id: int) -> WebhookEndpoint:
    return get_object_or_404(endpoint_list(user=user), pk=endpoint_id)


def events_for_user(
    *,
    user: Any,
    outcome: str | None = None,
    symbol: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    endpoint_id: int | None = None,
) -> QuerySet[WebhookEvent]:
    """The events of the user's endpoints, newest first. ``symbol`` may be written as TradingView does
    (``BINANCE:BTCUSDT``): it is matched on the market it maps to, or as a fragment if it maps to none."""
    rows = WebhookEvent.objects.filter(endpoint__user=user).select_related(
        "endpoint", "endpoint__exchange_account", "order"
    )
    if outcome:
        rows = rows.filter(outcome=outcome)
    if symbol and symbol.strip():
        try:
            market, _perpetual = validation.normalise_symbol(symbol)
        except validation.AlertError:
            rows = rows.filter(symbol__icontains=symbol.strip())
        else:
            rows = rows.filter(symbol=market)
    if since is not None:
        rows = rows.filter(received_at__gte=since)
    if until is not None:
        rows = rows.filter(received_at__lte=until)
    if endpoint_id is not None:
        rows = rows.filter(endpoint_id=endpoint_id)
    return rows


def event_get_for_user(*, user: Any, event_id: int) -> WebhookEvent:
    return get_object_or_404(events_for_user(user=user), pk=event_id)
