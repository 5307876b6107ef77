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

from market_data import clock, selectors
from market_data.exceptions import InvalidMarket
from market_data.labels import exchange_name, timeframe_label
from market_data.symbols import normalize_exchange, normalize_symbol
from trading_site import display

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


def local_seconds(index: pd.DatetimeIndex) -> list[int]:
    """lightweight-charts draws times as UTC: each time shifted to the current time zone's wall clock (per time,
    so daylight-saving changes stay right). The page formats them as UTC and names the zone (``chart_zones``)."""
    local = index.tz_convert(timezone.get_current_timezone()).tz_localize(None)
    return ((local - pd.Timestamp(0)) // pd.Timedelta(1, "s")).tolist()


def shift_points(points: list[list[Any]]) -> list[dict[str, Any]]:
    """Equity points ``[[epoch seconds, value], …]`` for lightweight-charts, shifted to the viewer's wall clock."""
    if not points:
        return []
    index = pd.DatetimeIndex(pd.to_datetime([p[0] for p in points], unit="s", utc=True))
    return [{"time": t, "value": p[1]} for t, p in zip(local_seconds(index), points, strict=True)]


def points_zones(points: list[list[Any]]) -> list[list[Any]]:
    """``chart_zones`` of equity points ``[[epoch seconds, value], …]``."""
    index = pd.DatetimeIndex(pd.to_datetime([p[0] for p in points], unit="s", utc=True))
    return chart_zones(index)


def chart_zones(index: pd.DatetimeIndex) -> list[list[Any]]:
    """The zone's name along the chart: ``[[shifted seconds from, "KST"], …]``, one entry per offset (two or
    more only across a daylight-saving change), so the chart names the zone as every page does."""
    zone = timezone.get_current_timezone()
    if not len(index):
        return [[0, display.zone_name(timezone.now())]]
    local = index.tz_convert(zone)
    offsets = (local.tz_localize(None) - index.tz_localize(None)).asi8
    starts = [0, *(i for i in range(1, len(offsets)) if offsets[i] != offsets[i - 1])]
    seconds = local_seconds(index[starts])
    return [[0 if k == 0 else seconds[k], local[i].strftime("%Z") or "UTC"] for k, i in enumerate(starts)]


def chart_data(frame: pd.DataFrame) -> dict[str, Any]:
    """Candles for lightweight-charts, with times shifted to the current time zone's wall clock
    (``local_seconds``) and the zone's name for the chart's time labels (``chart_zones``).

    The caller bounds the frame: a chart never shows a candle the market clock has not closed yet
    (``market_data.clock.closed_before``)."""
    seconds = local_seconds(frame.index)
    candles = [
        {"time": int(t), "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for t, o, h, lo, c, v in zip(
            seconds,
            frame["open"].tolist(),
            frame["high"].tolist(),
            frame["low"].tolist(),
            frame["close"].tolist(),
            frame["volume"].tolist(),
            strict=True,
        )
    ]
    precision = _price_precision(frame) if len(frame) else 2
    return {
        "candles": candles,
        "precision": precision,
        "minMove": float(f"1e-{precision}"),
        "zones": chart_zones(frame.index),
    }


def _requested_key(request: HttpRequest) -> tuple[str, str, str] | None:
    try:
        return (
            normalize_exchange(request.GET.get("exchange", "")),
            normalize_symbol(request.GET.get("symbol", "")),
            request.GET.get("timeframe", ""),
        )
    except InvalidMarket:
        return None


def _market_title(series: selectors.SeriesInfo) -> str:
    return f"{series.symbol} · {timeframe_label(series.timeframe)} · {exchange_name(series.exchange)}"


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
    market_now = clock.now()
    if selected is not None:
        # Only candles the market clock has closed (on the replay clock, the stored future stays hidden).
        end = clock.closed_before(selected.timeframe, market_now)
        frame = selectors.load_candles(
            selected.exchange, selected.symbol, selected.timeframe, None, end, limit=CHART_CANDLES
        )
        chart = chart_data(frame)
    rows = [
        {
            "series": s,
            "exchange": exchange_name(s.exchange),
            "timeframe": timeframe_label(s.timeframe),
            "selected": s == selected,
        }
        for s in series
    ]
    context = {
        "series": series,
        "rows": rows,
        "selected": selected,
        "selected_title": _market_title(selected) if selected else "",
        "chart": chart,
        "chart_candles": len(chart["candles"]) if chart else 0,
        "market_now": market_now,
        "not_found": not_found,
    }
    return render(request, "market_data/markets.html", context, status=status)
