"""Translated labels for the codes the engine returns (metric names, sides, exit reasons)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

METRIC_LABELS = {
    "total_return_pct": _("Return (%)"),
    "cagr_pct": _("CAGR (%)"),
    "sharpe": _("Sharpe"),
    "sortino": _("Sortino"),
    "max_drawdown_pct": _("Max drawdown (%)"),
    "calmar": _("Calmar"),
    "win_rate_pct": _("Win rate (%)"),
    "profit_factor": _("Profit factor"),
    "trades": _("Trades"),
    "avg_win": _("Average win"),
    "avg_loss": _("Average loss"),
    "exposure_pct": _("Exposure (%)"),
    "fees_paid": _("Fees paid"),
    "buy_hold_return_pct": _("Buy and hold (%)"),
}
SIDE_LABELS = {"long": _("Long"), "short": _("Short")}
EXIT_REASON_LABELS = {
    "signal": _("signal"),
    "stop_loss": _("stop loss"),
    "take_profit": _("take profit"),
    "liquidation": _("liquidation"),
    "reversal": _("reversal"),
    "end": _("end of period"),
}
