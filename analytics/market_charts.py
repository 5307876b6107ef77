"""Inline SVG geometry for the market intelligence page (same rules as ``analytics/charts.py``: numbers in a fixed
viewBox, computed on the server, drawn by the templates; no script, no inline style).

- ``regime_timeline``: the price over the window, with the regime model's out-of-sample reading as coloured bands
  behind it and, in a strip under it, the regime that actually followed (known only up to a day before now);
- ``forecast_fan``: the last weeks of daily closes and the 1, 3 and 7-day 80 % intervals and medians after them;
- ``sentiment_lines``: the overall score and each source's score over the stored snapshots, on −1 … 1.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from django.utils import timezone

from analytics.charts import _nice_ticks, _Scale

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 12, 52
STRIP = 10  # height of the realised-regime strip under the plot
MAX_POINTS = 640  # price points drawn (one per horizontal unit is enough)


def _price_ticks(scale: _Scale) -> list[dict[str, Any]]:
    values = _nice_ticks(scale.low, scale.high)
    step = values[1] - values[0] if len(values) > 1 else 1.0
    places = 0 if step >= 1 else min(6, len(f"{step:.6f}".rstrip("0").split(".")[1]))
    return [{"at": scale(v), "label": f"{v:,.{places}f}"} for v in values]


def _time_ticks(x: _Scale, start: pd.Timestamp, end: pd.Timestamp, count: int = 5) -> list[dict[str, Any]]:
    """About ``count`` evenly spaced moments (year-month across more than a year, month-day across weeks, hours
    across a day or a few), in the user's time zone (Django's current one)."""
    tz = timezone.get_current_timezone()
    span = end - start
    if span > pd.Timedelta(days=400):
        fmt = "%Y-%m"
    elif span > pd.Timedelta(days=4):
        fmt = "%m-%d"
    else:
        fmt = "%H:%M" if span <= pd.Timedelta(days=1) else "%m-%d %H:%M"
    out = []
    for k in range(count + 1):
        t = start + span * (k / count)
        out.append({"at": x(t.value), "label": t.tz_convert(tz).strftime(fmt)})
    return out


def _polyline(x: _Scale, y: _Scale, times: pd.DatetimeIndex, values: Any) -> str:
    step = max(1, len(times) // MAX_POINTS)
    points = [f"{x(t.value)},{y(float(v))}" for t, v in zip(times[::step], values[::step], strict=True)]
    if len(times) and (len(times) - 1) % step:
        points.append(f"{x(times[-1].value)},{y(float(values[-1]))}")
    return " ".join(points)


def regime_timeline(
    close: pd.Series, read: list[list[str]], actual: list[list[str]], *, bar: pd.Timedelta
) -> dict[str, Any]:
    """``close``: closes by bar open time; ``read`` and ``actual``: runs ``[start, end, regime]`` (ISO times)."""
    start, end = close.index[0], close.index[-1] + bar
    x = _Scale(start.value, end.value, LEFT, WIDTH - RIGHT)
    x.low, x.high = start.value, end.value  # no padding across: the bands meet the plot's edges
    plot_bottom = HEIGHT - BOTTOM
    y = _Scale(float(close.min()), float(close.max()), plot_bottom, TOP)

    def bands(runs: list[list[str]], top: float, height: float) -> list[dict[str, Any]]:
        out = []
        for first, last, name in runs:
            a, b = max(pd.Timestamp(first).value, start.value), min(pd.Timestamp(last).value, end.value)
            if b > a:
                out.append({"x": x(a), "width": round(x(b) - x(a), 2), "y": top, "height": height, "regime": name})
        return out

    return {
        "width": WIDTH,
        "height": HEIGHT,
        "plot": {"left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": plot_bottom},
        "read": bands(read, TOP, plot_bottom - TOP),
        "actual": bands(actual, plot_bottom + 4, STRIP),
        "price": _polyline(x, y, close.index, close.to_numpy()),
        "y_ticks": _price_ticks(y),
        "x_ticks": _time_ticks(x, start, end),
        "strip_label_y": plot_bottom + 4 + STRIP / 2,
        "axis_y": plot_bottom + STRIP + 22,
    }


def forecast_fan(days: pd.Series, forecast: dict[str, Any], *, shown: int = 45) -> dict[str, Any]:
    """``days``: daily closes by day; ``forecast``: ``price_forecast``'s answer (horizons 1d, 3d, 7d)."""
    closes = days.iloc[-shown:]
    origin = pd.Timestamp(forecast["as_of"])  # the close of the last complete day
    horizons = sorted(((int(k[:-1]), v) for k, v in forecast["horizons"].items()), key=lambda item: item[0])
    at = [(origin + pd.Timedelta(days=h), v) for h, v in horizons]
    times = closes.index + pd.Timedelta(days=1)  # a daily close is drawn at the day's end
    values = [float(v) for v in closes] + [v["low"] for _t, v in at] + [v["high"] for _t, v in at]
    x = _Scale(times[0].value, at[-1][0].value, LEFT, WIDTH - RIGHT)
    y = _Scale(min(values), max(values), HEIGHT - BOTTOM, TOP)
    last = f"{x(origin.value)},{y(float(forecast['close']))}"
    upper = [f"{x(t.value)},{y(v['high'])}" for t, v in at]
    lower = [f"{x(t.value)},{y(v['low'])}" for t, v in reversed(at)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "plot": {"left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": HEIGHT - BOTTOM},
        "price": _polyline(x, y, times, closes.to_numpy()),
        "fan": " ".join([last, *upper, *lower]),
        "median": " ".join([last, *(f"{x(t.value)},{y(v['median'])}" for t, v in at)]),
        "now_x": x(origin.value),
        "points": [
            {"x": x(t.value), "y": y(v["median"]), "label": f"{h}d", "top": y(v["high"])}
            for (h, _v), (t, v) in zip(horizons, at, strict=True)
        ],
        "y_ticks": _price_ticks(y),
        "x_ticks": _time_ticks(x, times[0], at[-1][0]),
        "axis_y": HEIGHT - BOTTOM + 18,
    }


def sentiment_lines(history: list[tuple[datetime, dict[str, float | None]]]) -> dict[str, Any] | None:
    """One line a series (``overall`` and each source) over the snapshots' times; None with fewer than two."""
    if len(history) < 2:
        return None
    start, end = pd.Timestamp(history[0][0]), pd.Timestamp(history[-1][0])
    if end <= start:
        return None
    x = _Scale(start.value, end.value, LEFT, WIDTH - RIGHT)
    y = _Scale(-1.0, 1.0, HEIGHT - BOTTOM, TOP)
    names = sorted({name for _t, scores in history for name in scores}, key=lambda n: (n != "overall", n))
    lines = []
    for name in names:
        points = [
            f"{x(pd.Timestamp(t).value)},{y(float(v))}" for t, scores in history if (v := scores.get(name)) is not None
        ]
        if points:
            lines.append({"name": name, "points": " ".join(points)})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "plot": {"left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": HEIGHT - BOTTOM},
        "lines": lines,
        "zero": y(0.0),
        "y_ticks": [{"at": y(v), "label": f"{v:+.1f}" if v else "0"} for v in (-1.0, -0.5, 0.0, 0.5, 1.0)],
        "x_ticks": _time_ticks(x, start, end, count=4),
        "axis_y": HEIGHT - BOTTOM + 18,
    }
