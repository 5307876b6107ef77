from __future__ import annotations

from typing import Any

import pandas as pd

from strategies import indicators as ta
from strategies.interface import ParamSpec, Strategy, _


def compute(candles: pd.DataFrame, p: dict[str, Any]) -> pd.DataFrame:
    st = ta.supertrend(candles["high"], candles["low"], candles["close"], p["factor"], p["atr_period"])
    direction = st["direction"]
    previous = direction.shift(1)
    # Pine's sign convention: direction -1 is an up-trend (line below price), +1 a down-trend.
    turns_up = (direction == -1) & (previous == 1)
    turns_down = (direction == 1) & (previous == -1)
    return pd.DataFrame(
        {"long_entry": turns_up, "long_exit": turns_down, "short_entry": turns_down, "short_exit": turns_up}
    )


def overlays(candles: pd.DataFrame, p: dict[str, Any]) -> dict[str, pd.Series]:
    st = ta.supertrend(candles["high"], candles["low"], candles["close"], p["factor"], p["atr_period"])
    return {"SuperTrend": st["supertrend"]}


STRATEGY = Strategy(
    slug="supertrend",
    name="SuperTrend",
    description=_(
        "SuperTrend (ATR bands around the bar's midpoint, TradingView's ta.supertrend). Long when the trend turns up "
        "(the line flips below the price); the long is closed when it turns down. Short when the trend turns down; "
        "the short is closed when it turns up."
    ),
    params=(
        ParamSpec("factor", _("ATR multiplier"), float, 3.0, 1.0, 10.0, 0.1),
        ParamSpec("atr_period", _("ATR period"), int, 10, 2, 100),
    ),
    compute=compute,
    warmup=lambda p: p["atr_period"] + 1,
    overlays=overlays,
)
