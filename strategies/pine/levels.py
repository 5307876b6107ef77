"""A Pine script's stop and target, read off the held runs (``strategies.pine.compile``): the levels its
``strategy.exit`` calls give on each bar for a position entered at a given price, whether they are the backtest's
one fixed percentage of the entry, and otherwise its levels bar by bar (rule 13: a × entry + b per side), read at
two entry prices and checked at a third (pure: no Django)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from strategies.interface import LEVEL_COLUMNS, _
from strategies.pine.errors import PineCompileError
from strategies.pine.run import Batch


def as_array(value: Any) -> np.ndarray:
    """An order argument (a number, or an array aligned with the bars of a batch) as a float64 array."""
    return np.atleast_1d(np.asarray(value, dtype="float64"))


def bar_levels(
    one: dict[str, np.ndarray], at: dict[str, np.ndarray], far: dict[str, np.ndarray], price: float
) -> dict[str, np.ndarray]:
    """The script's stop and target bar by bar as the backtest's level columns (rule 13: a × entry + b, per side),
    from the levels at entries of the market's median close (``at``) and ten times it (``far``), checked at 1
    (``one``, the held runs' own); a level that is no such line is refused."""
    columns: dict[str, np.ndarray] = {}
    for key in one:
        given = ~np.isnan(one[key])
        if not (np.array_equal(given, ~np.isnan(at[key])) and np.array_equal(given, ~np.isnan(far[key]))):
            raise PineCompileError(NOT_LINE)
        a = (far[key] - at[key]) / (9 * price)
        b = at[key] - a * price
        if not close_to(a + b, one[key], scale=price):  # the line at an entry of 1
            raise PineCompileError(NOT_LINE)
        # A level holds until the script gives another (an exit order rests until it is changed).
        columns[f"{key}_a"] = pd.Series(a).ffill().to_numpy()
        columns[f"{key}_b"] = pd.Series(b).ffill().to_numpy()
    return {name: columns[name] for name in LEVEL_COLUMNS}


def as_settings(
    one: dict[str, np.ndarray],
    at: dict[str, np.ndarray],
    price: float,
    settings: dict[str, Any],
    signals: dict[str, np.ndarray],
    entries: Any,
) -> bool:
    """Are the levels the settings' one stop loss and take profit (a fixed % of the entry, for both sides), at an
    entry of 1 and at the market's price? On every bar from a side's first entry signal on, for each side the
    script trades; a side without a stop has none."""
    for side, sign in (("long", 1.0), ("short", -1.0)):
        if side not in entries.values():
            continue
        first = int(np.argmax(signals[f"{side}_entry"])) if signals[f"{side}_entry"].any() else 0
        for kind, key, toward in (("stop", "stop_loss_pct", -sign), ("target", "take_profit_pct", sign)):
            low, high = one[f"{side}_{kind}"][first:], at[f"{side}_{kind}"][first:]
            pct = settings[key]
            if pct is None:
                if not (np.isnan(low).all() and np.isnan(high).all()):
                    return False
                continue
            share = 1.0 + toward * pct / 100
            if not (close_to(low, np.full(len(low), share)) and close_to(high, np.full(len(high), share * price))):
                return False
    return True


NOT_LINE = _(
    "The stop or target is not a fixed share of the entry price plus a price of the market (e.g. it takes the "
    "larger of two levels): not supported yet. Write it as strategy.position_avg_price * x + y, or from the "
    "market alone (ta.lowest(low, 10))."
)


def close_to(a: np.ndarray, b: np.ndarray, scale: float = 1.0) -> bool:
    """Equal to 1e-9 of the level (or of ``scale``), NaN where the other is NaN."""
    both = ~np.isnan(a) & ~np.isnan(b)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    return bool(np.all(np.abs(a[both] - b[both]) <= 1e-9 * np.maximum(np.abs(b[both]), scale)))


def level_table(
    runs: dict[int, list[Batch]], entries: Any, entry: float, mintick: float, n: int
) -> dict[str, np.ndarray]:
    """The stop and target prices the exit calls of the held runs give on each bar for a position entered at
    ``entry`` ("long_stop", "long_target", "short_stop", "short_target"; NaN where none). ``stop=``/``limit=``
    are prices, ``loss=``/``profit=`` ticks from the entry; with both, the nearer acts (TradingView's rule)."""
    table: dict[str, np.ndarray] = {}
    for side, direction in ((1, "long"), (-1, "short")):
        stops, targets = np.full(n, np.nan), np.full(n, np.nan)
        nearer_stop, nearer_target = (np.fmax, np.fmin) if side > 0 else (np.fmin, np.fmax)
        for batch in runs[side]:
            if batch.kind != "exit":
                continue
            source = batch.args.get("from_entry")
            if (entries.get(str(source)) if source is not None else direction) != direction:
                continue
            count = len(batch.bars)

            def arg(key: str, count: int = count, args: dict[str, Any] = batch.args) -> np.ndarray:
                value = args.get(key)
                return np.full(count, np.nan) if value is None else np.broadcast_to(as_array(value), (count,))

            stop = nearer_stop(arg("stop"), entry - side * arg("loss") * mintick)
            target = nearer_target(arg("limit"), entry + side * arg("profit") * mintick)
            for levels, found in ((stops, stop), (targets, target)):
                before = levels[batch.bars]
                clash = ~np.isnan(before) & ~np.isnan(found) & (before != found)
                if clash.any():
                    raise PineCompileError(
                        _("Two strategy.exit calls give different stops or targets on the same bar: not supported.")
                    )
                levels[batch.bars] = np.where(np.isnan(found), before, found)
        table[f"{direction}_stop"], table[f"{direction}_target"] = stops, targets
    return table
