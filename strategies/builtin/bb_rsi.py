from __future__ import annotations

from typing import Any

import pandas as pd

from strategies import indicators as ta
from strategies.interface import Message, ParamSpec, Strategy, _


def compute(candles: pd.DataFrame, p: dict[str, Any]) -> pd.DataFrame:
    close = candles["close"]
    bands = ta.bollinger(close, p["bb_length"], p["bb_mult"])
    rsi = ta.rsi(close, p["rsi_length"])
    stretched_down = (close < bands["lower"]) & (rsi < p["oversold"])
    stretched_up = (close > bands["upper"]) & (rsi > p["overbought"])
    # Entries fire on the first bar of a stretch, not on every bar of it.
    return pd.DataFrame(
        {
            "long_entry": stretched_down & ~stretched_down.shift(1, fill_value=False),
            "long_exit": ta.crossover(close, bands["basis"]) | ta.crossover(rsi, p["overbought"]),
            "short_entry": stretched_up & ~stretched_up.shift(1, fill_value=False),
            "short_exit": ta.crossunder(close, bands["basis"]) | ta.crossunder(rsi, p["oversold"]),
        }
    )


def overlays(candles: pd.DataFrame, p: dict[str, Any]) -> dict[str, pd.Series]:
    bands = ta.bollinger(candles["close"], p["bb_length"], p["bb_mult"])
    return {"BB basis": bands["basis"], "BB upper": bands["upper"], "BB lower": bands["lower"]}


def check(p: dict[str, Any]) -> dict[str, Message]:
    if p["oversold"] >= p["overbought"]:
        return {"oversold": (_("Must be below the overbought level (%(level)s)."), {"level": p["overbought"]})}
    return {}


STRATEGY = Strategy(
    slug="bb_rsi",
    name="Bollinger Bands + RSI",
    description=_(
        "Mean reversion. Long on the first bar whose close is below the lower Bollinger band while the RSI is below "
        "the oversold level; the long is closed when the close crosses above the middle band or the RSI crosses up "
        "through the overbought level. Short on the first bar whose close is above the upper band while the RSI is "
        "above the overbought level; the short is closed when the close crosses below the middle band or the RSI "
        "crosses down through the oversold level."
    ),
    params=(
        ParamSpec("bb_length", _("Bollinger period"), int, 20, 5, 100),
        ParamSpec("bb_mult", _("Bollinger width (standard deviations)"), float, 2.0, 1.0, 4.0, 0.1),
        ParamSpec("rsi_length", _("RSI period"), int, 14, 2, 50),
        ParamSpec("oversold", _("Oversold level"), float, 30, 5, 50, 1),
        ParamSpec("overbought", _("Overbought level"), float, 70, 50, 95, 1),
    ),
    compute=compute,
    warmup=lambda p: max(p["bb_length"], p["rsi_length"] + 1),
    check=check,
    overlays=overlays,
)
