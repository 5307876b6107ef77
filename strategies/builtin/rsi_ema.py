from __future__ import annotations

from typing import Any

import pandas as pd

from strategies import indicators as ta
from strategies.interface import Message, ParamSpec, Strategy, _


def compute(candles: pd.DataFrame, p: dict[str, Any]) -> pd.DataFrame:
    close = candles["close"]
    rsi = ta.rsi(close, p["rsi_length"])
    trend = ta.ema(close, p["ema_length"])
    oversold, overbought = p["oversold"], p["overbought"]
    above, below = close > trend, close < trend
    return pd.DataFrame(
        {
            "long_entry": above & ta.crossover(rsi, oversold),
            "long_exit": ta.crossunder(rsi, overbought) | ta.crossunder(close, trend),
            "short_entry": below & ta.crossunder(rsi, overbought),
            "short_exit": ta.crossover(rsi, oversold) | ta.crossover(close, trend),
        }
    )


def overlays(candles: pd.DataFrame, p: dict[str, Any]) -> dict[str, pd.Series]:
    return {f"EMA {p['ema_length']}": ta.ema(candles["close"], p["ema_length"])}


def check(p: dict[str, Any]) -> dict[str, Message]:
    if p["oversold"] >= p["overbought"]:
        return {"oversold": (_("Must be below the overbought level (%(level)s)."), {"level": p["overbought"]})}
    return {}


STRATEGY = Strategy(
    slug="rsi_ema",
    name="RSI + EMA",
    description=_(
        "Trades RSI pullbacks in the direction of a long EMA trend. Long when the close is above the EMA and the RSI "
        "crosses up through the oversold level; the long is closed when the RSI crosses down through the overbought "
        "level or the close crosses below the EMA. Short when the close is below the EMA and the RSI crosses down "
        "through the overbought level; the short is closed when the RSI crosses up through the oversold level or the "
        "close crosses above the EMA."
    ),
    params=(
        ParamSpec("rsi_length", _("RSI period"), int, 14, 2, 50),
        ParamSpec("oversold", _("Oversold level"), float, 30, 5, 50, 1),
        ParamSpec("overbought", _("Overbought level"), float, 70, 50, 95, 1),
        ParamSpec("ema_length", _("Trend EMA period"), int, 200, 10, 400),
    ),
    compute=compute,
    warmup=lambda p: max(p["ema_length"], p["rsi_length"] + 1),
    check=check,
    overlays=overlays,
)
