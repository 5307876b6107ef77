"""TradingView alerts in the dashboard's activity feed (registered in ``WebhooksConfig.ready``): each at its
market time, the time of the orders it placed, in a sentence of the reader's language."""

from __future__ import annotations

from typing import Any

from trading.dashboard.selectors import Activity
from webhooks import labels
from webhooks.models import WebhookEvent


def recent_alerts(user: Any, limit: int) -> list[Activity]:
    alerts = (
        WebhookEvent.objects.filter(endpoint__user=user).select_related("order").order_by("-received_at", "-id")[:limit]
    )
    return [
        Activity(
            alert.market_time,
            "alert",
            labels.feed_sentence(alert),
            ok=alert.outcome != WebhookEvent.Outcome.REJECTED and alert.status != WebhookEvent.Status.FAILED,
        )
        for alert in alerts
    ]
