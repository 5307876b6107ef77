"""The AI signal's panel on the dashboard, under the strategies' vote (registered with trading's dashboard in
``AnalyticsConfig.ready``: trading imports nothing of analytics)."""

from __future__ import annotations

import logging
from typing import Any

from django.utils.translation import gettext as _

from analytics.errors import AnalysisError
from analytics.models import SignalModel

logger = logging.getLogger(__name__)


def signal_panel(choice: Any) -> tuple[str, str, dict[str, Any]]:
    from analytics.signals import market_signal, signal_label

    template = "analytics/partials/signal_panel.html"
    where = {"symbol": choice.symbol.replace("/", ""), "timeframe": choice.timeframe}
    if not SignalModel.objects.filter(
        exchange=choice.exchange, symbol=choice.symbol, timeframe=choice.timeframe
    ).exists():
        return _("AI signal"), template, {"missing": True, "where": where}
    try:
        answer = market_signal(exchange=choice.exchange, symbol=choice.symbol, timeframe=choice.timeframe)
    except AnalysisError as exc:
        return _("AI signal"), template, {"unavailable": exc.message, "where": where}
    model = answer["track_record"]["walk_forward"]["model"]
    votes = answer["track_record"]["walk_forward"]["votes"]
    return (
        _("AI signal"),
        template,
        {
            "signal": answer,
            "label": signal_label(answer["signal"]),
            "confidence_pct": round(100 * answer["confidence"]),
            "balanced_pct": round(100 * model["balanced_accuracy"], 1),
            "votes_balanced_pct": round(100 * votes["balanced_accuracy"], 1),
            "follow_pct": round(100 * model["follow_return"], 1),
            "hold_pct": round(100 * model["buy_and_hold_return"], 1),
            "days": model["days"],
            "where": where,
        },
    )
