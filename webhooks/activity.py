"""TradingView alerts in the dashboard's activity feed (registered in ``WebhooksConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from trading.dashboard import Activity
from webhooks.models import WebhookEvent


def recent_alerts(user: Any, limit: int) -> list[Activity]:
    items = []
    for alert in WebhookEvent.objects.filter(endpoint__user=user).order_by("-received_at")[:limit]:
        what = " ".join(part for part in (alert.action, alert.symbol) if part)
        text = _("TradingView alert %(what)s: %(outcome)s") % {"what": what, "outcome": alert.get_outcome_display()}
        if alert.outcome == WebhookEvent.Outcome.REJECTED:
            text += f" ({alert.message or alert.reason})"
        elif alert.result:
            text += f" — {alert.result}"
        items.append(Activity(alert.received_at, "alert", text, ok=alert.outcome != WebhookEvent.Outcome.REJECTED))
    return items
