from __future__ import annotations

from typing import Any

import pandas as pd

from strategies import indicators as ta
from strategies.interface import Message, ParamSpec, Strategy, _


def compute(candles: pd.DataFrame, p: dict[str, Any]) -> pd.DataFrame:
    macd = ta.macd(candles["close"], p["fast"], p["slow"], p["signal"])
    stoch = ta.stoch(candles["high"], candles["low"], candles["close"], p["stoch_k"], p["stoch_smooth"], p["stoch_d"])
    k, d = stoch["k"], stoch["d"]
    macd_up, macd_down = ta.crossover(macd["macd"], macd["signal"]), ta.crossunder(macd["macd"], macd["signal"])
    return pd.DataFrame(
        {
            "long_entry": macd_up & (k > d) & (k < p["overbought"]),
            "long_exit": macd_down | (ta.crossunder(k, d) & (k > p["overbought"])),
            "short_entry": macd_down & (k < d) & (k > p["oversold"]),
            "short_exit": macd_up | (ta.crossover(k, d) & (k < p["oversold"])),
        }
    )


def check(p: dict[str, Any]) -> dict[str, Message]:
    errors: dict[str, Message] = {}
    if p["fast"] >= p["slow"]:
        errors["fast"] = (_("The fast period must be below the slow period (%(slow)s)."), {"slow": p["slow"]})
    if p["oversold"] >= p["overbought"]:
        errors["oversold"] = (_("Must be below the overbought level (%(level)s)."), {"level": p["overbought"]})
    return errors


STRATEGY = Strategy(
    slug="macd_stoch",
    name="MACD + Stochastic",
    description=_(
        "MACD crossovers confirmed by the Stochastic. Long when the MACD line crosses above its signal line while "
        "%K is above %D and below the overbought level; the long is closed when the MACD line crosses below its "
        "signal, or %K crosses below %D above the overbought level. Short when the MACD line crosses below its "
        "signal while %K is below %D and above the oversold level; the short is closed when the MACD line crosses "
        "above its signal, or %K crosses above %D below the oversold level."
    ),
    params=(
        ParamSpec("fast", _("MACD fast period"), int, 12, 2, 50),
        ParamSpec("slow", _("MACD slow period"), int, 26, 5, 100),
        ParamSpec("signal", _("MACD signal period"), int, 9, 2, 50),
        ParamSpec("stoch_k", _("Stochastic %K period"), int, 14, 3, 50),
        ParamSpec("stoch_smooth", _("Stochastic %K smoothing"), int, 3, 1, 10),
        ParamSpec("stoch_d", _("Stochastic %D period"), int, 3, 1, 10),
        ParamSpec("oversold", _("Oversold level"), float, 20, 5, 50, 1),
        ParamSpec("overbought", _("Overbought level"), float, 80, 50, 95, 1),
    ),
    compute=compute,
    warmup=lambda p: max(p["slow"] + p["signal"] - 1, p["stoch_k"] + p["stoch_smooth"] + p["stoch_d"] - 2),
    check=check,
)
