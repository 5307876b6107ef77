"""A Pine strategy as the built-ins' ``signals()`` contract and backtest settings (pure: no Django).

Trendy's backtest judges each signal against the position held at the close it was computed on (its rule 2:
in a long, a long exit or an opposite entry acts; flat, an entry acts; conflicts are ignored). So a script's
order calls become signals by asking, on every bar, what the script would call **in each position**:

- run once as if flat: its ``strategy.entry`` calls are the entry signals;
- once as if long (``strategy.position_size > 0``): ``strategy.close``/``close_all`` of the long is the long exit,
  a short entry the reversal;
- once as if short, mirrored;

and the backtest then follows whichever position it really holds. The stop loss and take profit come from the
``strategy.exit`` calls, read as if long (and short) from an entry price of 1: a stop at ``entry × (1 − x)`` is a
stop loss of x. The ``strategy()`` settings give the position size, leverage and fee.

What this cannot express yet is refused with a sentence, never approximated: pyramiding above 1, a stop or
target that moves from bar to bar, different levels for longs and shorts, quantities other than a percent of
equity, entries that depend on the position in ways the backtest's rule 2 does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from strategies.interface import SIGNAL_COLUMNS
from strategies.pine.check import report_of
from strategies.pine.run import Order, Runner
from strategies.pine.source import Parsed


class PineCompileError(ValueError):
    """The script runs, but Trendy's backtest cannot trade it as written (the message says why)."""


class _Held:
    """A broker that holds one position the whole run (what the script sees), entered at price 1."""

    def __init__(self, side: int) -> None:
        self.position_size = float(side)
        self.position_avg_price = 1.0 if side else math.nan
        self.equity = math.nan
        self.netprofit = 0.0
        self.opentrades = 1 if side else 0
        self.closedtrades = 0

    def bar(self, t: int) -> None:
        return None

    def order(self, order: Order) -> None:
        return None


@dataclass(frozen=True)
class Compiled:
    signals: pd.DataFrame  # the four bool columns of strategies.interface, on the candles' index
    settings: dict[str, Any]  # BacktestSettings fields the script sets
    entries: dict[str, str]  # entry id -> direction


def compile_script(
    parsed: Parsed, candles: pd.DataFrame, params: dict[str, Any] | None = None, **budget: Any
) -> Compiled:
    """Signals and settings for ``candles`` (the inputs from ``params``); PineRuntimeError when the script
    fails or runs over its budget, PineCompileError when the backtest cannot trade it as written."""
    n = len(candles)
    runs = {side: Runner(parsed, candles, params, broker=_Held(side), **budget).run() for side in (0, 1, -1)}
    entries: dict[str, str] = {}
    for trace in runs.values():
        for order in trace.orders:
            if order.kind == "entry" and entries.setdefault(order.id, order.direction) != order.direction:
                raise PineCompileError(f'The entry "{order.id}" is used for both longs and shorts.')
    columns = {name: np.zeros(n, dtype=bool) for name in SIGNAL_COLUMNS}
    for side, trace in runs.items():
        for order in trace.orders:
            _signal(order, side, entries, columns)
    settings = _settings(parsed, runs, entries)
    frame = pd.DataFrame(columns, index=candles.index)
    return Compiled(signals=frame, settings=settings, entries=entries)


def _signal(order: Order, side: int, entries: dict[str, str], columns: dict[str, np.ndarray]) -> None:
    t = order.bar
    if order.kind == "entry":
        # Flat: an entry; in the other direction: a reversal (the backtest closes and opens at the same open).
        # In the same direction: pyramiding, which the backtest does not do (refused by the settings check).
        held = {1: "long", -1: "short", 0: None}[side]
        if held != order.direction:
            columns[f"{order.direction}_entry"][t] = True
        return
    if order.kind == "close_all":
        if side:
            columns["long_exit" if side > 0 else "short_exit"][t] = True
        return
    if order.kind == "close":
        direction = entries.get(order.id)
        if direction is None:
            return  # closes an entry the script never makes: nothing
        if (direction == "long" and side > 0) or (direction == "short" and side < 0):
            columns[f"{direction}_exit"][t] = True
        return
    # exit: stop/limit levels, read by _settings


def _settings(parsed: Parsed, runs: dict[int, Any], entries: dict[str, str]) -> dict[str, Any]:
    declared = _declared(parsed)
    settings: dict[str, Any] = {}
    if "initial_capital" in declared:
        settings["initial_capital"] = float(declared["initial_capital"])
    pyramiding = declared.get("pyramiding", 1)
    if isinstance(pyramiding, int | float) and pyramiding > 1:
        raise PineCompileError("pyramiding above 1 is not supported yet: Trendy's backtest holds one position.")
    margin = declared.get("margin_long", declared.get("margin_short", 100))
    leverage = 100 / float(margin) if margin else 1.0
    if abs(leverage - round(leverage)) > 1e-9:
        raise PineCompileError(f"margin_long={margin} is not a whole leverage (100 / margin).")
    settings["leverage"] = round(leverage)
    qty_type = str(declared.get("default_qty_type", "strategy.fixed"))
    if qty_type != "strategy.percent_of_equity":
        raise PineCompileError("Only default_qty_type=strategy.percent_of_equity is supported yet.")
    settings["position_size_pct"] = float(declared.get("default_qty_value", 100)) / settings["leverage"]
    commission = str(declared.get("commission_type", "strategy.commission.percent"))
    if commission != "strategy.commission.percent":
        raise PineCompileError("Only commission_type=strategy.commission.percent is supported yet.")
    settings["fee_rate"] = float(declared.get("commission_value", 0)) / 100
    stops: dict[str, set[float]] = {"long": set(), "short": set()}
    targets: dict[str, set[float]] = {"long": set(), "short": set()}
    for side, direction in ((1, "long"), (-1, "short")):
        for order in runs[side].orders:
            if order.kind != "exit":
                continue
            source = order.args.get("from_entry")
            # An exit guards the entry it names (one the script never makes guards nothing), or every entry.
            if (entries.get(str(source)) if source is not None else direction) != direction:
                continue
            for key, found in (("stop", stops), ("limit", targets)):
                level = order.args.get(key)
                if level is None or (isinstance(level, float) and math.isnan(level)):
                    continue
                distance = (1 - level) if (direction == "long") == (key == "stop") else (level - 1)
                found[direction].add(round(distance * 100, 9))
    settings["stop_loss_pct"] = _one_level(stops, "stop")
    settings["take_profit_pct"] = _one_level(targets, "target")
    settings["direction"] = _direction(runs[0], entries)
    return settings


def _one_level(levels: dict[str, set[float]], what: str) -> float | None:
    found = levels["long"] | levels["short"]
    if not found:
        return None
    if len(found) > 1:
        raise PineCompileError(
            f"The {what} moves from bar to bar or differs between longs and shorts: not supported yet "
            "(Trendy's backtest takes one percentage from the entry price)."
        )
    return found.pop()


def _direction(flat: Any, entries: dict[str, str]) -> str:
    sides = set(entries.values())
    if sides == {"long"}:
        return "long"
    if sides == {"short"}:
        return "short"
    return "both"


def _declared(parsed: Parsed) -> dict[str, Any]:
    return report_of(parsed).settings
