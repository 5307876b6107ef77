"""A Pine strategy as the built-ins' ``signals()`` contract and backtest settings (pure: no Django).

Trendy's backtest judges each signal against the position held at the close it was computed on (its rule 2:
in a long, a long exit or an opposite entry acts; flat, an entry acts; conflicts are ignored). So a script's
order calls become signals by asking, on every bar, what the script would call **in each position**:

- run once as if flat: its ``strategy.entry`` calls are the entry signals;
- once as if long (``strategy.position_size > 0``): ``strategy.close``/``close_all`` of the long is the long exit,
  a short entry the reversal;
- once as if short, mirrored;

and the backtest then follows whichever position it really holds. The stop loss, take profit and trailing stop
come from the ``strategy.exit`` calls, read as if long (and short) from an entry price of 1: a stop at
``entry × (1 − x)`` is a stop loss of x; ``loss=``/``profit=``/``trail_points=``/``trail_offset=`` are ticks, so a
distance is ticks × ``syminfo.mintick`` (``trail_price=`` is a price). Trendy trades many markets, each with its own
tick: ticks must be written from the entry price (``strategy.position_avg_price * 0.02 / syminfo.mintick``), which
a second pass with another tick checks. The ``strategy()`` settings give the position size, leverage and fee.

With ``strategy(pyramiding=N)`` an entry the script makes in the direction it holds (the held runs) is an add signal
(``long_add``/``short_add``): the backtest adds an entry while it holds fewer than N. The held runs show the script
one entry held, so a script that counts its entries (``strategy.opentrades``) itself is read as holding one.

A stop or target that moves from bar to bar (``stop=ta.lowest(low, 10)``, ``stop=strategy.position_avg_price -
2 * ta.atr(14)``, a level set at the entry from the signal bar's close) becomes the backtest's levels bar by bar
(its rule 13): per bar and side a level ``a × entry price + b``, read off the held runs at three entry prices
(1, the market's median close and twice it) — two give a and b, the third checks the level really is a straight
line of the entry price (``math.max(strategy.position_avg_price * 0.95, ta.lowest(low, 10))`` is not, and is
refused). A level given on a bar holds until the script gives another, as an exit order rests on TradingView until
the script changes it.

What this cannot express yet is refused with a sentence, never approximated: a trailing stop that moves from bar
to bar, quantities other than a percent of equity, entries that depend on the position in ways the backtest's
rule 2 does not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from strategies.interface import ADD_COLUMNS, SIGNAL_COLUMNS, _
from strategies.pine.check import report_of
from strategies.pine.errors import PineCompileError
from strategies.pine.levels import as_array, as_settings, bar_levels, close_to, level_table
from strategies.pine.run import Batch, Order, Runner
from strategies.pine.source import Parsed

MINTICK = 1e-8  # the tick the held runs show the script (a second pass uses twice it: see _tick_check)
# What the held runs make up of the account (``_Held``), as the script names it: its orders must not depend on them.
MADE_UP = (
    "strategy.position_avg_price",
    "strategy.equity",
    "strategy.netprofit",
    "strategy.closedtrades",
    "strategy.opentrades",  # made up only with pyramiding (without, one entry is exactly what is held)
)
TICK_ARGUMENTS = ("profit", "loss", "trail_points", "trail_offset")
_COMMENT = re.compile(r"//[^\n]*")


class _Held:
    """A broker that holds one position the whole run (what the script sees), entered at price 1."""

    held = True  # the runner may read the position once and run the order calls over whole series

    def __init__(self, side: int, mintick: float = MINTICK, *, other: float | None = None, more: bool = False) -> None:
        """``other``: made-up values of another account, entered at that price (``_state_check``); ``more``: with
        more entries held than one."""
        self.mintick = mintick
        self.position_size = float(side)
        self.position_avg_price = (other or 1.0) if side else math.nan
        self.equity = 1e12 if other is not None else math.nan
        self.netprofit = 1e6 if other is not None else 0.0
        self.opentrades = (2 if more else 1) if side else 0
        self.closedtrades = 7 if other is not None else 0

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
    calls = {side: _batches(trace) for side, trace in runs.items()}
    entries: dict[str, str] = {}
    for batches in calls.values():
        for batch in batches:
            if batch.kind != "entry":
                continue
            # cast: an entry always has its direction (only exits and closes have none)
            if entries.setdefault(batch.id, cast(str, batch.direction)) != batch.direction:
                raise PineCompileError(_('The entry "%(id)s" is used for both longs and shorts.'), {"id": batch.id})
            given = sorted(key for key in ("qty", "limit", "stop") if batch.args.get(key) is not None)
            if given:
                raise PineCompileError(
                    _(
                        "strategy.entry(%(arguments)s=…) is not supported yet: Trendy's entries are market orders "
                        "at the next open, sized by your position size."
                    ),
                    {"arguments": ", ".join(given)},
                )
    settings = _settings(parsed, calls, entries)
    names = SIGNAL_COLUMNS + (ADD_COLUMNS if settings["pyramiding"] > 1 else ())
    columns = {name: np.zeros(n, dtype=bool) for name in names}
    for side, batches in calls.items():
        for batch in batches:
            _signal(batch, side, entries, columns)
    at_price = _state_check(parsed, candles, params, budget, calls, settings["pyramiding"])
    if any(batch.kind == "exit" and _ticks_given(batch) for side in (1, -1) for batch in calls[side]):
        _tick_check(parsed, candles, params, budget, calls, entries, settings)
    frame = pd.DataFrame(columns, index=candles.index)
    moving = settings.get("levels") == BY_BAR
    if moving or settings["stop_loss_pct"] is not None or settings["take_profit_pct"] is not None:
        # The levels at an entry of 1 and at the market's price: one fixed share of the entry at both is the
        # settings' percentage; anything else is read bar by bar.
        price, near = at_price if at_price is not None else (_market_price(candles), {})
        one = level_table(calls, entries, 1.0, MINTICK, n)
        at = level_table({**calls, **near}, entries, price, MINTICK, n)
        if moving or not as_settings(one, at, price, settings, columns, entries):
            settings.update(stop_loss_pct=None, take_profit_pct=None, levels=BY_BAR)
            reads = at_price is not None
            runs = dict(calls)  # at ten times the price: the same calls, unless the script reads the account
            if reads:
                for side in (1, -1):
                    broker = _Held(side, other=10 * price)
                    runs[side] = _batches(Runner(parsed, candles, params, broker=broker, **budget).run())
            far = level_table(runs, entries, 10 * price, MINTICK, n)
            frame = frame.assign(**bar_levels(one, at, far, price))
    return Compiled(signals=frame, settings=settings, entries=entries)


def _state_check(
    parsed: Parsed, candles: pd.DataFrame, params: Any, budget: Any, calls: dict[int, list[Batch]], pyramiding: int
) -> tuple[float, dict[int, list[Batch]]] | None:
    """The held runs make up the account: an entry at 1, no equity, no profit, no closed trade, one entry held. The
    order calls must not depend on that (an exit's levels may: they are read as distances from the entry). So a
    script that reads one of them runs again with other made-up values (an entry at the market's median close), and
    its orders must come out the same. Returns that price and the held runs made at it (None: nothing read)."""
    text = _COMMENT.sub("", parsed.text)
    read = [name for name in MADE_UP if name in text and (name != "strategy.opentrades" or pyramiding > 1)]
    if not read:
        return None
    sides = (0, 1, -1) if any(name != "strategy.position_avg_price" for name in read) else (1, -1)
    price = _market_price(candles)
    made: dict[int, list[Batch]] = {}
    for side in sides:  # entered at a price of the market (1 is far from any): conditions on it turn
        broker = _Held(side, other=price, more="strategy.opentrades" in read)
        again = made[side] = _batches(Runner(parsed, candles, params, broker=broker, **budget).run())
        if not _same_orders(_orders_of(again), _orders_of(calls[side])):
            raise PineCompileError(
                _(
                    "The script's orders depend on %(names)s, which Trendy cannot follow yet: it reads a script as "
                    "if flat, long or short on every bar, not the account's real values. Exits from the entry price "
                    "go in strategy.exit(stop=, limit=)."
                ),
                {"names": ", ".join(read)},
            )
    return price, made


def _market_price(candles: pd.DataFrame) -> float:
    """The market's median close (2 when there is none, or it is 1: the held runs' own entry price)."""
    price = float(np.nanmedian(candles["close"].to_numpy(dtype="float64"))) if len(candles) else 2.0
    return price if math.isfinite(price) and price > 0 and price != 1.0 else 2.0


def _orders_of(batches: list[Batch]) -> dict[tuple[Any, ...], np.ndarray]:
    """The calls of a run, comparable: (kind, id, direction, line) → the bars it was made on, sorted (an exit's
    levels left out)."""
    found: dict[tuple[Any, ...], list[np.ndarray]] = {}
    for batch in batches:
        key = (batch.kind, str(batch.id), str(batch.direction), batch.line)
        found.setdefault(key, []).append(np.asarray(batch.bars, dtype=np.int64).ravel())
    return {key: np.sort(np.concatenate(parts)) for key, parts in found.items()}


def _same_orders(a: dict[tuple[Any, ...], np.ndarray], b: dict[tuple[Any, ...], np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[key], b[key]) for key in a)


def _ticks_given(batch: Batch) -> bool:
    return any(batch.args.get(key) is not None for key in TICK_ARGUMENTS)


def _tick_check(
    parsed: Parsed, candles: pd.DataFrame, params: Any, budget: Any, calls: Any, entries: Any, settings: Any
) -> None:
    """Run the held passes again with twice the tick: distances in ticks written from the entry price come out the
    same; ticks written as constants (right for one market on TradingView) do not, and are refused."""
    again = dict(calls)
    for side in (1, -1):
        again[side] = _batches(Runner(parsed, candles, params, broker=_Held(side, 2 * MINTICK), **budget).run())
    trail = ("trailing_stop_pct", "trailing_activation_pct")
    theirs = _settings(parsed, again, entries, 2 * MINTICK)
    same = all(theirs.get(key) == settings.get(key) for key in trail)
    n = len(candles)  # the stop and target at an entry of 1 come out the same
    ours, twice = level_table(calls, entries, 1.0, MINTICK, n), level_table(again, entries, 1.0, 2 * MINTICK, n)
    if not (same and all(close_to(ours[key], twice[key]) for key in ours)):
        raise PineCompileError(
            _(
                "strategy.exit gives ticks that do not follow the market's tick: write them from the entry price, "
                "e.g. loss = strategy.position_avg_price * 0.02 / syminfo.mintick (Trendy trades many markets, each "
                "with its own tick)."
            )
        )


def _batches(trace: Any) -> list[Batch]:
    """Every order call of a run as batches (a call made bar by bar is a batch of one bar)."""
    single = [
        Batch(np.array([o.bar]), o.kind, o.id, o.direction, o.args, o.line) for o in trace.orders
    ]  # fmt: skip
    return trace.batches + single


def _signal(batch: Batch, side: int, entries: dict[str, str], columns: dict[str, np.ndarray]) -> None:
    bars = batch.bars
    if batch.kind == "entry":
        # Flat: an entry; in the other direction: a reversal (the backtest closes and opens at the same open).
        # In the same direction: another entry (pyramiding, up to strategy(pyramiding=); none without it).
        held = {1: "long", -1: "short", 0: None}[side]
        if held != batch.direction:
            columns[f"{batch.direction}_entry"][bars] = True
        elif f"{held}_add" in columns:
            columns[f"{held}_add"][bars] = True
        return
    if batch.kind == "close_all":
        if side:
            columns["long_exit" if side > 0 else "short_exit"][bars] = True
        return
    if batch.kind == "close":
        direction = entries.get(batch.id)
        if direction is None:
            return  # closes an entry the script never makes: nothing
        if (direction == "long" and side > 0) or (direction == "short" and side < 0):
            columns[f"{direction}_exit"][bars] = True
        return
    # exit: stop/limit levels, read by _settings


def _settings(
    parsed: Parsed, runs: dict[int, Any], entries: dict[str, str], mintick: float = MINTICK
) -> dict[str, Any]:
    declared = _declared(parsed)
    settings: dict[str, Any] = {}
    if "initial_capital" in declared:
        settings["initial_capital"] = float(declared["initial_capital"])
    pyramiding = declared.get("pyramiding", 1)
    if not isinstance(pyramiding, int | float) or pyramiding != int(pyramiding) or not 1 <= pyramiding <= 10:
        raise PineCompileError(
            _("strategy(pyramiding=%(value)s) must be a whole number from 1 to 10."), {"value": pyramiding}
        )
    settings["pyramiding"] = int(pyramiding)
    # Sizing and fees the backtest cannot take as written (a fixed quantity, a commission per order, a margin
    # that is no whole leverage) are left out: the trader's own settings apply, as for the built-ins.
    margin = declared.get("margin_long", declared.get("margin_short", 100))
    leverage = 100 / float(margin) if isinstance(margin, int | float) and margin > 0 else 1.0
    whole = abs(leverage - round(leverage)) <= 1e-9
    if whole:
        settings["leverage"] = round(leverage)
    if str(declared.get("default_qty_type", "strategy.fixed")) == "strategy.percent_of_equity" and whole:
        settings["position_size_pct"] = float(declared.get("default_qty_value", 100)) / settings["leverage"]
    if str(declared.get("commission_type", "strategy.commission.percent")) == "strategy.commission.percent":
        settings["fee_rate"] = float(declared.get("commission_value", 0)) / 100
    found: dict[str, dict[str, set[float]]] = {key: {"long": set(), "short": set()} for key in LEVELS}
    for side, direction in ((1, "long"), (-1, "short")):
        for batch in runs[side]:
            if batch.kind != "exit":
                continue
            source = batch.args.get("from_entry")
            # An exit guards the entry it names (one the script never makes guards nothing), or every entry.
            if (entries.get(str(source)) if source is not None else direction) != direction:
                continue
            for key, distances in _distances(batch, direction, mintick).items():
                found[key][direction].update(np.unique(np.round(distances * 100, 9)).tolist())
    if len(found["stop"]["long"] | found["stop"]["short"]) > 1 or len(found["target"]["long"] | found["target"][
        "short"]) > 1:  # fmt: skip
        settings["stop_loss_pct"] = settings["take_profit_pct"] = None
        settings["levels"] = BY_BAR  # the stop and target bar by bar (levels.bar_levels)
    else:
        settings["stop_loss_pct"] = _one_level(found["stop"], "stop")
        settings["take_profit_pct"] = _one_level(found["target"], "target")
    trail = _one_level(found["trail"], "trail")
    if trail is not None:
        settings["trailing_stop_pct"] = trail
        settings["trailing_activation_pct"] = max(_one_level(found["activation"], "activation") or 0.0, 0.0)
    settings["direction"] = _direction(runs[0], entries)
    return settings


LEVELS = ("stop", "target", "trail", "activation")
BY_BAR = "bar"  # settings["levels"]: the script's stop and target move from bar to bar (the frame's level columns)


def _distances(batch: Batch, direction: str, mintick: float) -> dict[str, np.ndarray]:
    """An exit call's levels as distances from an entry at 1 (fractions), NaN where a bar gives none. ``stop=`` and
    ``loss=`` both given: the nearer stop acts first (TradingView's rule); likewise ``limit=`` and ``profit=``."""
    args = batch.args
    sign = 1.0 if direction == "long" else -1.0

    def given(key: str) -> np.ndarray | None:
        value = args.get(key)
        return None if value is None else as_array(value)

    def nearer(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
        if a is None or b is None:
            return a if b is None else b
        return np.where(np.isnan(a), b, np.where(np.isnan(b), a, np.minimum(a, b)))

    stop, limit, price = given("stop"), given("limit"), given("trail_price")
    ticks = {key: given(key) for key in TICK_ARGUMENTS}
    tick = {key: None if value is None else value * mintick for key, value in ticks.items()}
    out: dict[str, np.ndarray] = {}
    stop_distance = nearer(None if stop is None else sign * (1.0 - stop), tick["loss"])
    target_distance = nearer(None if limit is None else sign * (limit - 1.0), tick["profit"])
    for key, value in (("stop", stop_distance), ("target", target_distance)):
        if value is not None:
            out[key] = value[~np.isnan(value)]
    if tick["trail_offset"] is not None or price is not None or tick["trail_points"] is not None:
        if tick["trail_offset"] is None or (price is None and tick["trail_points"] is None):
            raise PineCompileError(
                _(
                    "A trailing stop needs trail_offset= and one of trail_points= or trail_price= (where it starts), "
                    "as on TradingView."
                )
            )
        # cast: not None, one of trail_price= and trail_points= was given (checked just above)
        start = cast(np.ndarray, nearer(None if price is None else sign * (price - 1.0), tick["trail_points"]))
        out["trail"] = tick["trail_offset"][~np.isnan(tick["trail_offset"])]
        out["activation"] = start[~np.isnan(start)]
    return out


def _one_level(levels: dict[str, set[float]], what: str) -> float | None:
    found = levels["long"] | levels["short"]
    if not found:
        return None
    if len(found) > 1:  # a stop or target that moves is read bar by bar (levels.py); a trail is not yet
        raise PineCompileError(
            _(
                "The trailing stop moves from bar to bar or differs between longs and shorts: not supported yet "
                "(Trendy's backtest takes one distance, a percentage of the entry price)."
            )
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
