"""The backtest engine (pure: numpy, pandas and numba; no Django).

``run_backtest(candles, signals, settings, intrabar=None, timeframe=None) -> BacktestResult``
simulates one strategy's signal frame (``strategies.interface``: bool columns ``long_entry``,
``long_exit``, ``short_entry``, ``short_exit``) on OHLC candles. The loop is one numba kernel
(``_core.simulate``); pandas is used only to unpack the input and to build the result.

Why this file is long: the rules below are the engine's contract (the README, the reference test and the live
path all point to them by number), and the input checks that guard the kernel belong beside them.

Rules:

1. A signal on the close of bar t fills at the open of bar t+1, plus slippage against the trader
   (a long entry or short exit pays open × (1 + slippage), a long exit or short entry gets
   open × (1 − slippage)); a signal on the last bar is not filled. Slippage applies to every market
   fill: entries, signal exits, stop losses and liquidations; a take profit is a limit order and fills
   at its price.
2. One position at a time. In a long, ``long_exit`` (or ``short_entry`` when direction is "both")
   closes it at the next open; with ``short_entry`` and direction "both" the same open also opens a
   short (a reversal: the closed trade's exit_reason is "reversal"). Symmetric for shorts. Short
   signals are ignored with direction "long", long signals with direction "short". An entry signal in
   the direction already held is ignored — unless ``pyramiding`` (default 1) allows more entries: then
   it (or ``long_add``/``short_add``, when the signal frame has them) adds an entry at the next open
   while the position holds fewer. Each entry is its own trade, sized as in rule 3 from the equity
   marked at that open (cash + the unrealised pnl at the open); the stop loss, take profit,
   liquidation price and trailing stop then count from the position's average entry price (set again
   as at an entry; the trail's best price carries on); every exit closes all the entries at one price,
   and a liquidation loses every entry's margin. Signals are judged against the position
   held at the close they were computed on: a position stopped out at the next open is not re-opened
   by an entry signal that was a no-op when it was emitted (an opposite entry still opens). An entry
   whose own exit is set on the same bar, or long and short entries on the same bar while flat, are
   conflicts and are ignored.
3. margin = equity at entry × position_size_pct / 100; notional = margin × leverage;
   size = notional / fill price; fee = fee_rate × notional at entry, and fee_rate × size × exit price
   at exit. Trade pnl is net of both fees; return_pct is pnl / margin in %.
4. Stop loss and take profit are set from the entry fill (long: SL = entry × (1 − sl%),
   TP = entry × (1 + tp%); short mirrored) and checked against the high and low of every bar from the
   entry bar on. A bar that opens beyond the stop fills at its open (plus slippage); one that opens
   beyond the take profit fills at its open. When a bar touches both, the stop loss is assumed first
   (conservative) — unless ``intrabar`` (a lower timeframe of the same market, same columns, sorted)
   is given: its candles inside [bar open, next bar open) are scanned in order and the level touched
   first wins; a lower-timeframe candle touching both, or no lower-timeframe data for the bar, means
   stop loss first. ``metrics["ambiguous_bars"]`` counts the bars that touched both,
   ``metrics["ambiguous_resolved_intrabar"]`` those the lower timeframe decided (either way).
   A stop at the open takes precedence over a signal exit at that open.
5. Liquidation, leverage L, with no maintenance margin (a simplification: real exchanges liquidate a
   little earlier): a long is liquidated at entry × (1 − 1/L), a short at entry × (1 + 1/L); with
   L = 1 a long is never liquidated. The nearer of stop loss and liquidation is the active stop
   (a stop loss at or inside the liquidation price always fires first); liquidation is handled
   exactly like a stop in rule 4, so on a bar reaching both the liquidation price and the take
   profit, liquidation comes first unless intrabar data shows otherwise. The loss of a liquidated
   trade is capped at its margin plus fees; exit_reason "liquidation". Any exit whose price move
   would lose more than the margin (a bar opening beyond the liquidation price, or a stop loss set
   just inside it whose slippage carries the fill past it) is a liquidation too: exit_price is the
   market fill, the loss is the margin plus fees.
6. Equity never goes negative (a loss larger than the remaining cash is cut to it); once equity is
   ≤ 0, trading stops.
7. Defaults are never frictionless: 0.1 % fee per side and 5 bps slippage.
8. A position still open at the last bar is closed at the last close (fee charged, no slippage),
   exit_reason "end"; so the final equity equals initial capital plus the sum of trade pnl.
9. The equity curve is marked to market at each bar's close (cash + unrealised pnl; the exit fee of
   an open position is not deducted until it closes). Buy-and-hold invests the initial capital at
   the first bar's open, paying the entry fee (no slippage, no exit fee), and is marked at each close.
10. Gaps in the candles (spacing larger than ``timeframe``, or than the median spacing when no
    timeframe is given) are reported in ``gaps`` as (last bar before, first bar after, candles
    missing), never filled; the simulation simply goes from one bar to the next.
11. A trailing stop (``trailing_stop_pct``) keeps the stop a fixed distance — that percentage of the
    entry price — behind the best price the position has seen: after the close of every bar it is held
    through (its entry bar included), the best price becomes the highest of the entry fill and the highs
    since (a short: the lowest of the fill and the lows), and the stop moves to best − distance (a short:
    best + distance) if that is nearer than where it is; it never moves back. With
    ``trailing_activation_pct`` the trail starts only once the best price is that percentage beyond the
    entry. The moved stop acts from the next bar on, as in rule 4 (a bar opening beyond it fills at its
    open plus slippage), and its exit_reason is "stop_loss". It moves on closed bars only — what a live
    bot can do, re-pricing its resting stop order after each candle — unlike TradingView's broker
    emulator, which also trails inside the bar.
12. ``bars_held`` is the index of the exit bar minus the index of the entry bar (0 for a trade
    stopped on its entry bar, 1 for one closed by a signal at the next open).
13. A strategy may give its own stop and target bar by bar (a Pine script's ``strategy.exit(stop=, limit=)`` that
    moves with the market): the signal frame's float columns ``LEVEL_COLUMNS`` hold, per bar and per side, a
    level as ``a × average entry price + b`` (a fixed 2 % stop loss is a = 0.98, b = 0; a stop under the last ten
    lows is a = 0, b = that low). The level a bar gives acts from the next bar on: the open after the entry
    signal takes the signal bar's levels from its fill, and after every close the levels move to that bar's
    (they may loosen). NaN in ``a`` is no level on that bar. They replace ``stop_loss_pct`` and
    ``take_profit_pct``; everything else is as in rules 4 and 5 (the nearer of the stop and the liquidation
    price acts; a bar opening beyond a level fills at its open), and a trailing stop, when set, acts as well
    (the nearer of the two).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import _core
from .metrics import equity_metrics, trade_metrics

__all__ = ["LEVEL_COLUMNS", "BacktestError", "BacktestResult", "BacktestSettings", "run_backtest"]

SIGNAL_COLUMNS = ("long_entry", "long_exit", "short_entry", "short_exit")
ADD_COLUMNS = ("long_add", "short_add")  # optional: another entry in the direction held (default: the entries)
# Optional: the strategy's own stop and target, bar by bar (rule 13), in the kernel's order.
LEVEL_COLUMNS = (
    "long_stop_a", "long_stop_b", "long_target_a", "long_target_b",
    "short_stop_a", "short_stop_b", "short_target_a", "short_target_b",
)  # fmt: skip
MAX_PYRAMIDING = 10
PRICE_COLUMNS = ("open", "high", "low", "close")
DIRECTIONS = ("long", "short", "both")
TRADE_COLUMNS = (
    "side", "entry_time", "entry_price", "exit_time", "exit_price", "size", "notional", "fees", "pnl",
    "return_pct", "exit_reason", "bars_held",
)  # fmt: skip

METRIC_KEYS = (
    "total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct", "calmar", "win_rate_pct",
    "profit_factor", "trades", "avg_win", "avg_loss", "exposure_pct", "fees_paid", "buy_hold_return_pct",
    "ambiguous_bars", "ambiguous_resolved_intrabar",
)  # fmt: skip
_PER_MS = {"us": 1_000, "ns": 1_000_000}
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


class BacktestError(ValueError):
    """Bad input for a backtest: invalid settings, empty or misaligned candles and signals."""


@dataclass(frozen=True)
class BacktestSettings:
    initial_capital: float = 10_000.0
    fee_rate: float = 0.001  # per side, on notional
    slippage_bps: float = 5.0  # against the trader on market fills
    leverage: int = 1  # 1..10
    position_size_pct: float = 10.0  # 5..20 % of equity used as margin
    stop_loss_pct: float | None = 2.0
    take_profit_pct: float | None = 4.0
    direction: str = "long"  # "long", "short", "both"
    trailing_stop_pct: float | None = None  # the trail's distance, % of the entry price (rule 11)
    trailing_activation_pct: float = 0.0  # the gain, % of the entry price, before the trail starts
    pyramiding: int = 1  # entries one position may hold (rule 2)

    def validate(self) -> None:
        """Raise BacktestError naming the first invalid setting."""
        capital = _finite(self.initial_capital)
        if capital is None or capital <= 0:
            raise BacktestError(f"Initial capital must be a number greater than 0 (got {self.initial_capital!r}).")
        fee = _finite(self.fee_rate)
        if fee is None or fee < 0 or fee >= 1:
            raise BacktestError(
                f"Fee rate must be a fraction from 0 to below 1, e.g. 0.001 for 0.1 % (got {self.fee_rate!r})."
            )
        slippage = _finite(self.slippage_bps)
        if slippage is None or slippage < 0 or slippage >= 10_000:
            raise BacktestError(
                f"Slippage must be a number of basis points from 0 to below 10000 (got {self.slippage_bps!r})."
            )
        lev = self.leverage
        if (
            isinstance(lev, bool)
            or not isinstance(lev, int | float | np.integer | np.floating)
            or not math.isfinite(lev)
            or lev != int(lev)
            or not 1 <= lev <= 10
        ):
            raise BacktestError(f"Leverage must be a whole number from 1 to 10 (got {lev!r}).")
        size = _finite(self.position_size_pct)
        if size is None or not 5 <= size <= 20:
            raise BacktestError(f"Position size must be from 5 to 20 % of equity (got {self.position_size_pct!r}).")
        for label, value in (("Stop loss", self.stop_loss_pct), ("Take profit", self.take_profit_pct)):
            if value is None:
                continue
            number = _finite(value)
            if number is None or number <= 0:
                raise BacktestError(f"{label} must be a percentage greater than 0, or none (got {value!r}).")
        if self.trailing_stop_pct is not None:
            number = _finite(self.trailing_stop_pct)
            if number is None or not 0 < number < 100:
                raise BacktestError(
                    f"Trailing stop must be a percentage from above 0 to below 100, or none "
                    f"(got {self.trailing_stop_pct!r})."
                )
        activation = _finite(self.trailing_activation_pct)
        if activation is None or activation < 0:
            raise BacktestError(
                f"Trailing activation must be a percentage of 0 or more (got {self.trailing_activation_pct!r})."
            )
        pyr = self.pyramiding
        if isinstance(pyr, bool) or not isinstance(pyr, int | np.integer) or not 1 <= pyr <= MAX_PYRAMIDING:
            raise BacktestError(f"Pyramiding must be a whole number from 1 to {MAX_PYRAMIDING} (got {pyr!r}).")
        if self.direction not in DIRECTIONS:
            raise BacktestError(f"Direction must be one of long, short, both (got {self.direction!r}).")


def _finite(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class BacktestResult:
    trades: pd.DataFrame
    equity: pd.Series
    buy_hold: pd.Series
    metrics: dict[str, Any]
    gaps: list[tuple[pd.Timestamp, pd.Timestamp, int]] = field(default_factory=list)
    settings: BacktestSettings = field(default_factory=BacktestSettings)


def timeframe_ms(timeframe: str) -> int:
    """``"1m"``, ``"5m"``, ``"1h"``, ``"4h"``, ``"1d"``, ``"1w"`` … in milliseconds."""
    match = re.fullmatch(r"(\d+)([mhdw])", str(timeframe).strip())
    if not match or int(match.group(1)) <= 0:
        raise BacktestError(f"Unknown timeframe {timeframe!r} (use e.g. 1m, 5m, 15m, 1h, 4h, 1d).")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _times_ms(index: pd.Index, what: str) -> np.ndarray:
    if not isinstance(index, pd.DatetimeIndex):
        raise BacktestError(f"The {what} must be indexed by candle open time (a DatetimeIndex).")
    # pandas 3 stores datetimes in s, ms, us (its default) or ns: asi8 counts in that unit, so scale it to
    # milliseconds here (cheaper than as_unit, which checks losslessness); a tz-aware index counts from the
    # UTC epoch, and only this plain int64 array reaches numba.
    values = index.asi8
    unit = index.unit
    if unit == "s":
        return values * 1000
    if unit == "ms":
        return np.ascontiguousarray(values, dtype=np.int64)
    return values // _PER_MS[unit]


def _prices(frame: pd.DataFrame, what: str, columns: tuple[str, ...] = PRICE_COLUMNS) -> list[np.ndarray]:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise BacktestError(f"The {what} lack the column(s): {', '.join(missing)}.")
    arrays = []
    for name in columns:
        try:
            values = np.ascontiguousarray(frame[name].to_numpy(dtype=np.float64))
        except (TypeError, ValueError):
            raise BacktestError(f"The {what} column {name!r} must be numeric.") from None
        if not np.isfinite(values).all():
            raise BacktestError(f"The {what} column {name!r} holds missing or infinite values.")
        arrays.append(values)
    return arrays


def _signal_arrays(signals: pd.DataFrame) -> list[np.ndarray]:
    missing = [name for name in SIGNAL_COLUMNS if name not in signals.columns]
    if missing:
        raise BacktestError(f"The signal frame lacks the column(s): {', '.join(missing)}.")
    arrays = []
    for name in SIGNAL_COLUMNS:
        column = signals[name]
        if column.dtype != np.bool_:
            column = column.fillna(False).astype(bool)
        arrays.append(np.ascontiguousarray(column.to_numpy(dtype=np.bool_)))
    for name, entry in zip(ADD_COLUMNS, (arrays[0], arrays[2]), strict=True):
        if name not in signals.columns:
            arrays.append(entry)
            continue
        column = signals[name]
        if column.dtype != np.bool_:
            column = column.fillna(False).astype(bool)
        arrays.append(np.ascontiguousarray(column.to_numpy(dtype=np.bool_)))
    return arrays


def _level_array(signals: pd.DataFrame) -> np.ndarray:
    """The strategy's levels (rule 13) as an n × 8 float64 array; 0 × 8 when the frame has none."""
    present = [name for name in LEVEL_COLUMNS if name in signals.columns]
    if not present:
        return np.empty((0, len(LEVEL_COLUMNS)), dtype=np.float64)
    if len(present) != len(LEVEL_COLUMNS):
        missing = [name for name in LEVEL_COLUMNS if name not in signals.columns]
        raise BacktestError(f"The signal frame gives levels but lacks the column(s): {', '.join(missing)}.")
    try:
        levels = np.ascontiguousarray(signals.loc[:, list(LEVEL_COLUMNS)].to_numpy(dtype=np.float64))
    except (TypeError, ValueError):
        raise BacktestError("The signal frame's level columns must be numeric.") from None
    if np.isinf(levels).any():
        raise BacktestError("The signal frame's level columns hold infinite values.")
    slopes, offsets = levels[:, 0::2], levels[:, 1::2]
    if (np.isnan(slopes) != np.isnan(offsets)).any():
        raise BacktestError("A level of the signal frame gives only one of its two numbers (a and b).")
    return levels


def find_gaps(index: pd.DatetimeIndex, diffs: np.ndarray, step_ms: int) -> list[tuple[pd.Timestamp, pd.Timestamp, int]]:
    """(last bar before, first bar after, candles missing) for each spacing in ``diffs`` (the differences
    of consecutive open times, ms) larger than ``step_ms``."""
    if diffs.shape[0] == 0 or step_ms <= 0:
        return []
    where = np.flatnonzero(diffs > step_ms)
    return [(index[i], index[i + 1], int(diffs[i] // step_ms) - 1) for i in where.tolist()]


def _median_spacing(diffs: np.ndarray) -> int:
    """The median of ``diffs``; when most spacings are the smallest one (regular candles with a few
    gaps) that is the median, found without a sort."""
    smallest = diffs.min()
    if np.count_nonzero(diffs == smallest) * 2 > diffs.shape[0]:
        return int(smallest)
    return int(np.median(diffs))


def run_backtest(
    candles: pd.DataFrame,
    signals: pd.DataFrame,
    settings: BacktestSettings,
    intrabar: pd.DataFrame | None = None,
    timeframe: str | None = None,
) -> BacktestResult:
    """Simulate ``signals`` on ``candles`` under ``settings`` (rules in the module docstring)."""
    settings.validate()
    if candles is None or len(candles) == 0:
        raise BacktestError("There are no candles to backtest.")
    times = _times_ms(candles.index, "candles")
    diffs = np.diff(times)
    if diffs.shape[0] and diffs.min() <= 0:
        raise BacktestError("The candles must be sorted by open time, without duplicates.")
    prices = _prices(candles, "candles")
    if signals is None or not signals.index.equals(candles.index):
        raise BacktestError("The signal frame must have exactly the same index as the candles.")
    signal_arrays = _signal_arrays(signals)
    levels = _level_array(signals)

    if timeframe is not None:
        step_ms = timeframe_ms(timeframe)
    elif diffs.shape[0]:
        step_ms = _median_spacing(diffs)
    else:
        step_ms = 0

    if intrabar is not None and len(intrabar) > 0:
        ib_t = _times_ms(intrabar.index, "intrabar candles")
        if (intrabar.index.tz is None) != (candles.index.tz is None):
            raise BacktestError("The intrabar candles and the candles must both be timezone-aware, or both naive.")
        if not intrabar.index.is_monotonic_increasing:
            raise BacktestError("The intrabar candles must be sorted by open time.")
        ib_h, ib_l = _prices(intrabar, "intrabar candles", ("high", "low"))
    else:
        ib_t = np.empty(0, dtype=np.int64)
        ib_h = ib_l = np.empty(0, dtype=np.float64)

    sl = math.nan if settings.stop_loss_pct is None else float(settings.stop_loss_pct) / 100.0
    tp = math.nan if settings.take_profit_pct is None else float(settings.take_profit_pct) / 100.0
    trail = math.nan if settings.trailing_stop_pct is None else float(settings.trailing_stop_pct) / 100.0
    arrays = _core.readonly(times, *prices, *signal_arrays, levels, ib_t, ib_h, ib_l)
    scalars = (
        np.int64(max(step_ms, 1)),
        float(settings.initial_capital),
        float(settings.fee_rate),
        float(settings.slippage_bps) / 10_000.0,
        float(settings.leverage),
        float(settings.position_size_pct) / 100.0,
        sl,
        tp,
        settings.direction != "short",  # longs allowed
        settings.direction != "long",  # shorts allowed
        trail,
        float(settings.trailing_activation_pct) / 100.0,
        np.int64(settings.pyramiding),
    )
    stats, equity, side, entry_idx, exit_idx, entry_px, exit_px, size, notional, margin, fees, pnl, reason = (
        _core.simulate(*arrays, *scalars)  # type: ignore[call-arg, arg-type]  # mypy: a spread list of unknown length
    )
    count = int(stats[_core.STAT_TRADES])
    index = candles.index
    entry_idx = entry_idx[:count]
    exit_idx = exit_idx[:count]
    pnl = pnl[:count]
    fees = fees[:count]
    trades = pd.DataFrame(
        {
            "side": np.where(side[:count] == 1, "long", "short"),
            "entry_time": index.take(entry_idx),
            "entry_price": entry_px[:count],
            "exit_time": index.take(exit_idx),
            "exit_price": exit_px[:count],
            "size": size[:count],
            "notional": notional[:count],
            "fees": fees,
            "pnl": pnl,
            "return_pct": pnl / margin[:count] * 100.0,
            "exit_reason": np.asarray(_core.EXIT_REASONS, dtype=object)[reason[:count]],
            "bars_held": exit_idx - entry_idx,
        },
        columns=list(TRADE_COLUMNS),
    )

    capital = float(settings.initial_capital)
    opens, closes = prices[0], prices[3]
    units = capital * (1.0 - float(settings.fee_rate)) / opens[0]
    buy_hold = units * closes
    span_ms = int(times[-1] - times[0]) + step_ms
    metrics: dict[str, Any] = equity_metrics(equity, capital, span_ms, step_ms)
    metrics.update(trade_metrics(pnl, fees))
    metrics["exposure_pct"] = float(stats[_core.STAT_EXPOSED_BARS]) / times.shape[0] * 100.0
    metrics["buy_hold_return_pct"] = float((buy_hold[-1] / capital - 1.0) * 100.0)
    metrics["ambiguous_bars"] = int(stats[_core.STAT_AMBIGUOUS])
    metrics["ambiguous_resolved_intrabar"] = int(stats[_core.STAT_RESOLVED])
    metrics = {
        key: (None if isinstance(metrics[key], float) and not math.isfinite(metrics[key]) else metrics[key])
        for key in METRIC_KEYS
    }

    return BacktestResult(
        trades=trades,
        equity=pd.Series(equity, index=index, name="equity"),
        buy_hold=pd.Series(buy_hold, index=index, name="buy_hold"),
        metrics=metrics,
        gaps=find_gaps(index, diffs, step_ms),
        settings=settings,
    )
