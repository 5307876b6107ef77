"""Reads of a user's webhook endpoints and the events they received. Every fetch of one row goes through a
``*_get_for_user`` helper: another user's row is a 404 (its existence is not revealed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
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
    (``BINANCE:BTCUSDT``): it is matched on the market it maps to, or as a fragment if it maps to none.
    ``since`` and ``until`` bound the market time, the time the pages show."""
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
        rows = rows.filter(market_time__gte=since)
    if until is not None:
        rows = rows.filter(market_time__lte=until)
    if endpoint_id is not None:
        rows = rows.filter(endpoint_id=endpoint_id)
    return rows


def endpoints_with_activity(*, user: Any) -> list[WebhookEndpoint]:
    """The user's endpoints, each with ``alert_count`` (requests received) and ``last_event`` (the latest one,
    or None): three queries whatever the number of endpoints."""
    events = WebhookEvent.objects.filter(endpoint=OuterRef("pk")).order_by()
    count = events.values("endpoint").annotate(n=Count("pk")).values("n")
    latest = events.order_by("-received_at", "-id").values("pk")[:1]
    endpoints = list(
        endpoint_list(user=user).annotate(alert_count=Coalesce(Subquery(count), 0), last_event_id=Subquery(latest))
    )
    last = WebhookEvent.objects.in_bulk([e.last_event_id for e in endpoints if e.last_event_id])
    for endpoint in endpoints:
        endpoint.last_event = last.get(endpoint.last_event_id)
    return endpoints


def endpoint_activity(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """One endpoint's ``alert_count`` and ``last_event`` (for a card shown alone)."""
    events = WebhookEvent.objects.filter(endpoint=endpoint)
    endpoint.alert_count = events.count()
    endpoint.last_event = events.order_by("-received_at", "-id").first()
    return endpoint


def event_get_for_user(*, user: Any, event_id: int) -> WebhookEvent:
    return get_object_or_404(events_for_user(user=user), pk=event_id)
