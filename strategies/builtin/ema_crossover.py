from __future__ import annotations

from typing import Any

import pandas as pd

from strategies import indicators as ta
from strategies.interface import Message, ParamSpec, Strategy, _


def compute(candles: pd.DataFrame, p: dict[str, Any]) -> pd.DataFrame:
    close = candles["close"]
    fast, slow = ta.ema(close, p["fast"]), ta.ema(close, p["slow"])
    up, down = ta.crossover(fast, slow), ta.crossunder(fast, slow)
    return pd.DataFrame({"long_entry": up, "long_exit": down, "short_entry": down, "short_exit": up})


def overlays(candles: pd.DataFrame, p: dict[str, Any]) -> dict[str, pd.Series]:
    close = candles["close"]
    return {f"EMA {p['fast']}": ta.ema(close, p["fast"]), f"EMA {p['slow']}": ta.ema(close, p["slow"])}


def check(p: dict[str, Any]) -> dict[str, Message]:
    if p["fast"] >= p["slow"]:
        return {"fast": (_("The fast period must be below the slow period (%(slow)s)."), {"slow": p["slow"]})}
    return {}


STRATEGY = Strategy(
    slug="ema_crossover",
    name="EMA crossover",
    description=_(
        "Long when the fast EMA of the close crosses above the slow EMA; the long is closed when it crosses back "
        "below. Short when the fast EMA crosses below the slow EMA; the short is closed when it crosses back above. "
        "Signals are taken on the bar's close and filled at the next bar's open."
    ),
    params=(
        ParamSpec("fast", _("Fast EMA period"), int, 12, 2, 100),
        ParamSpec("slow", _("Slow EMA period"), int, 26, 5, 400),
    ),
    compute=compute,
    warmup=lambda p: p["slow"],
    check=check,
    overlays=overlays,
)
