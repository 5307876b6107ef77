"""Inline SVG geometry for the analytics page, computed on the server from the answer itself (no chart library, no
script: the page's CSP allows neither inline styles nor inline scripts, and SVG attributes are neither).

Each function returns plain numbers in a fixed viewBox; the templates draw them. Tick labels are fractions the
template formats as percentages.
"""

from __future__ import annotations

import math
from typing import Any

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40


def _places(ticks: list[float]) -> int:
    """Decimals a percentage label needs to tell these ticks apart (a 2.5 % step needs one)."""
    if len(ticks) < 2:
        return 0
    text = f"{abs(ticks[1] - ticks[0]) * 100:.6g}"
    return min(3, len(text.split(".")[1])) if "." in text else 0


def _percent_ticks(scale: _Scale) -> list[dict[str, Any]]:
    values = _nice_ticks(scale.low, scale.high)
    places = _places(values)
    return [{"at": scale(v), "value": v, "places": places} for v in values]


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        high = low + 1e-9 if math.isfinite(low) else 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


class _Scale:
    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        pad = (high - low) * 0.06 or abs(high) * 0.1 or 0.01
        self.low, self.high, self.start, self.end = low - pad, high + pad, start, end

    def __call__(self, value: float) -> float:
        return round(self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start), 2)


def _axes(x: _Scale, y: _Scale) -> dict[str, Any]:
    return {"x_ticks": _percent_ticks(x), "y_ticks": _percent_ticks(y)}


def frontier_chart(result: dict[str, Any]) -> dict[str, Any]:
    """The efficient frontier (risk across, return up), each single market, the risky mix and the answer."""
    points = result["frontier"]["points"]
    assets = result["frontier"]["assets"]
    risky = result["risky_portfolio"]
    risks = [p["risk"] for p in points] + [a["risk"] for a in assets] + [result["expected_risk"]]
    returns = [p["return"] for p in points] + [a["return"] for a in assets] + [result["expected_return"]]
    x = _Scale(min(0.0, min(risks)), max(risks), LEFT, WIDTH - RIGHT)
    y = _Scale(min(returns), max(returns), HEIGHT - BOTTOM, TOP)
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "plot": {"left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": HEIGHT - BOTTOM},
        "frontier": " ".join(f"{x(p['risk'])},{y(p['return'])}" for p in points),
        "assets": [{"x": x(a["risk"]), "y": y(a["return"]), "label": a["symbol"].split("/")[0]} for a in assets],
        "risky": {"x": x(risky["expected_risk"]), "y": y(risky["expected_return"])},
        "chosen": {"x": x(result["expected_risk"]), "y": y(result["expected_return"])},
        "cash": result["cash_weight"] > 0,
        **_axes(x, y),
    }


def fan_chart(monte_carlo: dict[str, Any]) -> dict[str, Any]:
    """Percentile bands of the cumulative return over the horizon (5–95 and 25–75) and the median."""
    days = monte_carlo["fan"]["days"]
    p5, p25, p50, p75, p95 = monte_carlo["fan"]["values"]
    x = _Scale(0, max(days[-1], 1), LEFT, WIDTH - RIGHT)
    y = _Scale(min(p5), max(p95), HEIGHT - BOTTOM, TOP)

    def band(lower: list[float], upper: list[float]) -> str:
        forward = [f"{x(d)},{y(v)}" for d, v in zip(days, upper, strict=True)]
        back = [f"{x(d)},{y(v)}" for d, v in zip(reversed(days), reversed(lower), strict=True)]
        return " ".join(forward + back)

    return {
        "width": WIDTH,
        "height": HEIGHT,
        "plot": {"left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": HEIGHT - BOTTOM},
        "outer": band(p5, p95),
        "inner": band(p25, p75),
        "median": " ".join(f"{x(d)},{y(v)}" for d, v in zip(days, p50, strict=True)),
        "zero": y(0.0),
        "x_ticks": [{"at": x(v), "value": int(v)} for v in _nice_ticks(0, days[-1]) if v == int(v)],
        "y_ticks": _percent_ticks(y),
    }


def weight_bars(weights: dict[str, float], cash: float) -> dict[str, Any]:
    """One bar a market (and cash), largest first."""
    rows = sorted(weights.items(), key=lambda item: -item[1])
    if cash > 0:
        rows.append(("", cash))
    return {"bars": [{"symbol": symbol, "weight": max(weight, 0.0)} for symbol, weight in rows]}
