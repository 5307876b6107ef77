from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from strategies import indicators as ta
from strategies.interface import Message, ParamSpec, Strategy, _


def _lines(candles: pd.DataFrame, p: dict[str, Any]) -> pd.DataFrame:
    return ta.ichimoku(
        candles["high"], candles["low"], candles["close"], p["conversion"], p["base"], p["span_b"], p["displacement"]
    )


def compute(candles: pd.DataFrame, p: dict[str, Any]) -> pd.DataFrame:
    close = candles["close"]
    ich = _lines(candles, p)
    # The cloud TradingView draws at bar t (spans computed displacement-1 bars earlier): past data only.
    # NaN-propagating, like Pine's math.max: no cloud, no signal.
    top = np.maximum(ich["cloud_a"], ich["cloud_b"])
    bottom = np.minimum(ich["cloud_a"], ich["cloud_b"])
    # Lagging-span confirmation: today's close against the close displacement-1 bars ago (never the future).
    past_close = close.shift(p["displacement"] - 1)
    tk_up, tk_down = ta.crossover(ich["conversion"], ich["base"]), ta.crossunder(ich["conversion"], ich["base"])
    return pd.DataFrame(
        {
            "long_entry": tk_up & (close > top) & (close > past_close),
            "long_exit": tk_down | (close < bottom),
            "short_entry": tk_down & (close < bottom) & (close < past_close),
            "short_exit": tk_up | (close > top),
        }
    )


def overlays(candles: pd.DataFrame, p: dict[str, Any]) -> dict[str, pd.Series]:
    ich = _lines(candles, p)
    return {
        "Tenkan": ich["conversion"],
        "Kijun": ich["base"],
        "Senkou A": ich["cloud_a"],
        "Senkou B": ich["cloud_b"],
    }


def check(p: dict[str, Any]) -> dict[str, Message]:
    if not p["conversion"] < p["base"] < p["span_b"]:
        return {"base": (_("Periods must rise: conversion < base < span B."), {})}
    return {}


STRATEGY = Strategy(
    slug="ichimoku_cloud",
    name="Ichimoku Cloud",
    description=_(
        "Ichimoku trend entries. Long when the conversion line (Tenkan) crosses above the base line (Kijun), the "
        "close is above the cloud drawn at that bar, and the close is above the close displacement-1 bars ago "
        "(the lagging span's test); the long is closed when Tenkan crosses below Kijun or the close falls below the "
        "cloud. Short is the mirror image. The cloud at a bar is the one TradingView draws there: spans computed "
        "displacement-1 bars earlier, so no signal uses a future value."
    ),
    params=(
        ParamSpec("conversion", _("Conversion line period"), int, 9, 2, 50),
        ParamSpec("base", _("Base line period"), int, 26, 5, 100),
        ParamSpec("span_b", _("Leading span B period"), int, 52, 10, 200),
        ParamSpec("displacement", _("Displacement"), int, 26, 2, 100),
    ),
    compute=compute,
    warmup=lambda p: p["span_b"] + p["displacement"] - 2,
    check=check,
    overlays=overlays,
)
