"""The Markets page: stored candle series and a candlestick chart of one of them."""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from market_data import selectors
from market_data.exceptions import InvalidMarket
from market_data.symbols import normalize_exchange, normalize_symbol

CHART_CANDLES = 500


def _price_precision(frame: pd.DataFrame) -> int:
    """Decimals the chart shows: as many as the prices use (2 to 8), so XRP at 0.5123 is not shown as 0.51."""
    decimals = 2
    for value in frame[["open", "high", "low", "close"]].to_numpy().ravel().tolist():
        text = repr(value)
        if "e" in text:
            return 8
        decimals = max(decimals, len(text.partition(".")[2]))
    return min(decimals, 8)


def chart_data(frame: pd.DataFrame) -> dict[str, Any]:
    """Candles for lightweight-charts. It draws times as UTC, so they are shifted to the current time zone's
    wall clock (per candle, so daylight-saving changes stay right)."""
    local = frame.index.tz_convert(timezone.get_current_timezone()).tz_localize(None)
    seconds = (local - pd.Timestamp(0)) // pd.Timedelta(1, "s")
    candles = [
        {"time": int(t), "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for t, o, h, lo, c, v in zip(
            seconds.tolist(),
            frame["open"].tolist(),
            frame["high"].tolist(),
            frame["low"].tolist(),
            frame["close"].tolist(),
            frame["volume"].tolist(),
            strict=True,
        )
    ]
    precision = _price_precision(frame) if len(frame) else 2
    return {"candles": candles, "precision": precision, "minMove": float(f"1e-{precision}")}


def _requested_key(request: HttpRequest) -> tuple[str, str, str] | None:
    try:
        return (
            normalize_exchange(request.GET.get("exchange", "")),
            normalize_symbol(request.GET.get("symbol", "")),
            request.GET.get("timeframe", ""),
        )
    except InvalidMarket:
        return None


@login_required
@require_GET
def markets(request: HttpRequest) -> HttpResponse:
    series = selectors.series_list()
    selected = None
    status = 200
    not_found = ""
    if series:
        if any(request.GET.get(name) for name in ("exchange", "symbol", "timeframe")):
            key = _requested_key(request)
            selected = next((s for s in series if (s.exchange, s.symbol, s.timeframe) == key), None)
            if selected is None:
                status = 404
                not_found = _("No candles are stored for that market. Pick one from the table.")
        else:
            selected = series[0]
    chart = None
    if selected is not None:
        frame = selectors.load_candles(selected.exchange, selected.symbol, selected.timeframe, limit=CHART_CANDLES)
        chart = chart_data(frame)
    context = {
        "series": series,
        "selected": selected,
        "chart": chart,
        "chart_candles": len(chart["candles"]) if chart else 0,
        "not_found": not_found,
    }
    return render(request, "market_data/markets.html", context, status=status)
