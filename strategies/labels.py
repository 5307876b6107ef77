"""How the strategies' codes read on a page, in English and Korean: strategy names, parameter labels, metric
names and values, sides, exit reasons, a run's period, and the sentences of the backtest chart's markers.

Presentation only: nothing here changes a parameter key, a signal, a trade or a metric's value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from strategies.builtin import REGISTRY, find_strategy
from strategies.interface import Strategy
from trading_site import display

METRIC_LABELS = {
    "total_return_pct": _("Return"),
    "cagr_pct": _("CAGR"),
    "sharpe": _("Sharpe"),
    "sortino": _("Sortino"),
    "max_drawdown_pct": _("Max drawdown"),
    "calmar": _("Calmar"),
    "win_rate_pct": _("Win rate"),
    "profit_factor": _("Profit factor"),
    "trades": _("Trades"),
    "avg_win": _("Average win"),
    "avg_loss": _("Average loss"),
    "exposure_pct": _("Exposure"),
    "fees_paid": _("Fees paid"),
    "buy_hold_return_pct": _("Buy and hold"),
}
# How each metric reads: a change (signed %), a share (%), a ratio (2 decimals), a count, money (USDT).
METRIC_KINDS = {
    "total_return_pct": "pct_signed",
    "cagr_pct": "pct_signed",
    "sharpe": "ratio",
    "sortino": "ratio",
    "max_drawdown_pct": "pct",
    "calmar": "ratio",
    "win_rate_pct": "pct1",
    "profit_factor": "ratio",
    "trades": "count",
    "avg_win": "money_signed",
    "avg_loss": "money_signed",
    "exposure_pct": "pct1",
    "fees_paid": "money",
    "buy_hold_return_pct": "pct_signed",
}
SIDE_LABELS = {"long": _("Long"), "short": _("Short")}
EXIT_REASON_LABELS = {
    "signal": _("Signal"),
    "stop_loss": _("Stop loss"),
    "take_profit": _("Take profit"),
    "liquidation": _("Liquidation"),
    "reversal": _("Reversal"),
    "end": _("End of period"),
}
# The names of the six strategies as a trader reads them (the registry's names stay the ids of Pine exports).
STRATEGY_NAMES = {
    "supertrend": _("SuperTrend"),
    "rsi_ema": _("RSI + EMA"),
    "macd_stoch": _("MACD + Stochastic"),
    "ichimoku_cloud": _("Ichimoku Cloud"),
    "bb_rsi": _("Bollinger Bands + RSI"),
    "ema_crossover": _("EMA crossover"),
}


def metric_value(key: str, value: Any, currency: str = "USDT") -> str:
    """A metric as it reads: ``+12.35%``, ``8.20%``, ``1.42``, ``37``, ``+25.10 USDT``; ``–`` when undefined."""
    kind = METRIC_KINDS.get(key, "ratio")
    if kind == "pct_signed":
        return display.percent(value, signed=True)
    if kind == "pct":
        return display.percent(value)
    if kind == "pct1":
        return display.percent(value, 1)
    if kind == "count":
        return display.number(value, 0)
    if kind == "money_signed":
        return display.amount(value, currency, signed=True)
    if kind == "money":
        return display.amount(value, currency)
    return display.number(value, 2)


def metric_label(key: str) -> str:
    return str(METRIC_LABELS.get(key, key))


def side_label(side: str) -> str:
    return str(SIDE_LABELS.get(side, side))


def exit_reason_label(reason: str | None) -> str:
    return str(EXIT_REASON_LABELS.get(reason or "", reason or display.MISSING))


def strategy_name(strategy: Strategy | str) -> str:
    """The strategy's name in the active language (``EMA crossover`` / ``EMA 크로스오버``)."""
    slug = strategy if isinstance(strategy, str) else strategy.slug
    if slug in STRATEGY_NAMES:
        return str(STRATEGY_NAMES[slug])
    found = find_strategy(slug) if isinstance(strategy, str) else strategy
    return found.name if found else slug


def strategy_names() -> dict[str, str]:
    return {slug: strategy_name(slug) for slug in REGISTRY}


def param_label(strategy: Strategy | str | None, name: str) -> str:
    """A parameter's label in the active language (``fast`` → ``Fast EMA period``). A Pine script's input title
    is the creator's own text, shown as written (never looked up in Trendy's catalogue)."""
    found = find_strategy(strategy) if isinstance(strategy, str) else strategy
    for spec in found.params if found else ():
        if spec.name == name:
            return gettext(spec.label) if found.slug in REGISTRY else spec.label
    return name


def param_value(value: Any) -> str:
    """``12`` → ``12``; ``2.5`` → ``2.5``; ``1000`` → ``1,000`` (the value's own decimals)."""
    return display.number(value, None)


def params_list(strategy: Strategy | str | None, params: Mapping[str, Any]) -> list[dict[str, str]]:
    """``[{"label": "Fast EMA period", "value": "12"}, …]`` in the strategy's parameter order."""
    found = find_strategy(strategy) if isinstance(strategy, str) else strategy
    order = [spec.name for spec in found.params] if found else []
    names = [name for name in order if name in params] + [name for name in params if name not in order]
    return [{"label": param_label(found, name), "value": param_value(params[name])} for name in names]


def params_text(strategy: Strategy | str | None, params: Mapping[str, Any]) -> str:
    """``Fast EMA period 12 · Slow EMA period 26``."""
    return " · ".join(f"{item['label']} {item['value']}" for item in params_list(strategy, params))


def period_text(start: datetime | None, end: datetime | None) -> str:
    """A run's period as days, in the trader's time zone: ``1 Jan 2024 – 29 Feb 2024`` (``end`` is exclusive, so
    the last day shown is the day of the last moment inside the period)."""
    if start is None or end is None:
        return display.MISSING
    return f"{display.day(start)} – {display.day(end - timedelta(microseconds=1))}"


# --- The backtest chart's markers ----------------------------------------------------------------------------

GREEN = "#16a34a"
RED = "#dc2626"
PURPLE = "#7c3aed"


def _entry_sentence(trade: Mapping[str, Any], symbol: str) -> str:
    base, quote = display.base_and_quote(symbol)
    return gettext("%(side)s entry: %(size)s at %(price)s") % {
        "side": side_label(trade["side"]),
        "size": display.quantity(trade.get("size"), base),
        "price": display.price(trade.get("entry_price"), quote),
    }


def _exit_sentence(trade: Mapping[str, Any], symbol: str) -> str:
    _base, quote = display.base_and_quote(symbol)
    return gettext("%(side)s exit: %(reason)s at %(price)s, PnL %(pnl)s") % {
        "side": side_label(trade["side"]),
        "reason": exit_reason_label(trade.get("exit_reason")),
        "price": display.price(trade.get("exit_price"), quote),
        "pnl": display.amount(trade.get("pnl"), quote, signed=True),
    }


def trade_markers(
    trades: Iterable[Mapping[str, Any]], symbol: str, to_seconds: Any
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """One marker per bar of the chart, and for its tooltip the sentence of each event on that bar.

    An entry is an arrow (up, green: long; down, red: short), an exit a dot (green: a gain, red: a loss). Events
    on the same bar — an exit and the reversal's entry, an entry stopped out in its first bar — share one
    marker: a purple square with their count, so no marker hides another; its sentences list the exits first
    (a position closes before the next opens). ``to_seconds`` maps a list of ISO times to the chart's seconds.
    """
    events: list[tuple[str, int, dict[str, Any], str]] = []  # (ISO time, 0 exit / 1 entry, marker, sentence)
    for trade in trades:
        long = trade["side"] == "long"
        entry = {"position": "belowBar" if long else "aboveBar", "shape": "arrowUp" if long else "arrowDown"}
        entry["color"] = GREEN if long else RED
        events.append((trade["entry_time"], 1, entry, _entry_sentence(trade, symbol)))
        if trade.get("exit_time"):
            exit_ = {"position": "aboveBar" if long else "belowBar", "shape": "circle"}
            exit_["color"] = GREEN if (trade.get("pnl") or 0) >= 0 else RED
            events.append((trade["exit_time"], 0, exit_, _exit_sentence(trade, symbol)))
    if not events:
        return [], {}
    seconds = to_seconds([event[0] for event in events])
    by_bar: dict[int, list[tuple[int, dict[str, Any], str]]] = {}
    for second, (_time, order, marker, text) in zip(seconds, events, strict=True):
        by_bar.setdefault(int(second), []).append((order, marker, text))
    markers: list[dict[str, Any]] = []
    lines: dict[str, list[str]] = {}
    for second in sorted(by_bar):
        group = sorted(by_bar[second], key=lambda event: event[0])  # stable: trade order within exits, entries
        if len(group) == 1:
            markers.append({"time": second, **group[0][1]})
        else:
            markers.append(
                {"time": second, "position": "aboveBar", "shape": "square", "color": PURPLE, "text": str(len(group))}
            )
        lines[str(second)] = [text for _order, _marker, text in group]
    return markers, lines
