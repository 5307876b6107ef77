"""The backtest loop: one numba kernel on plain arrays (no pandas, no datetimes, no Django).

``simulate`` walks the bars once. Times are int64 epoch milliseconds, prices float64, signals bool.
The rules it implements are listed in ``strategies.backtest`` (the package docstring).

Why this file is long: the kernel and the small njit helpers it calls are one compiled unit; each rule lives in
one place in the loop, in the order a bar happens (signals, the open, adds, entries, inside the bar, the close).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeAlias

import numba
import numpy as np

if TYPE_CHECKING:  # annotations only (numba ignores them): nothing here exists at run time
    from numpy.typing import NDArray

    Floats: TypeAlias = NDArray[np.float64]
    Ints: TypeAlias = NDArray[np.int64]
    Int8s: TypeAlias = NDArray[np.int8]
    Bools: TypeAlias = NDArray[np.bool_]
    Levels: TypeAlias = tuple[float, int, float]  # (stop, its reason, target)

# Exit reason codes (index into EXIT_REASONS).
SIGNAL, STOP_LOSS, TAKE_PROFIT, LIQUIDATION, REVERSAL, END = 0, 1, 2, 3, 4, 5
EXIT_REASONS = ("signal", "stop_loss", "take_profit", "liquidation", "reversal", "end")

# Indexes into the ``stats`` array returned by ``simulate``.
STAT_TRADES, STAT_AMBIGUOUS, STAT_RESOLVED, STAT_EXPOSED_BARS = 0, 1, 2, 3
LEVEL_WIDTH = 8  # the columns of ``lv``: long stop a, b, long target a, b, short stop a, b, short target a, b


@numba.njit(cache=True, nogil=True)
def _close(
    first: int, k: int, i: int, side: int, exit_px: float, reason: int, cash: float, fee_rate: float,
    tr_size: Floats, tr_notional: Floats, tr_margin: Floats, tr_ep: Floats, tr_xi: Ints, tr_xp: Floats,
    tr_fees: Floats, tr_pnl: Floats, tr_reason: Int8s,
) -> float:  # fmt: skip
    """Close the open legs ``first .. k-1`` (one trade each; one leg without pyramiding) at ``exit_px`` on bar
    ``i``; returns the new cash."""
    gross_all = 0.0
    margin_all = 0.0
    for q in range(first, k):
        gross_all += side * tr_size[q] * (exit_px - tr_ep[q])
        margin_all += tr_margin[q]
    # The adverse move reached the position's margin: whatever the order was (a liquidation, or a stop that
    # gapped or slipped past the liquidation price), the position was liquidated and every leg loses exactly
    # its margin (plus fees). No maintenance margin.
    liquidated = gross_all < -margin_all
    if liquidated:
        reason = LIQUIDATION
    pnl = 0.0
    for q in range(first, k):
        size = tr_size[q]
        gross = -tr_margin[q] if liquidated else side * size * (exit_px - tr_ep[q])
        entry_fee = fee_rate * tr_notional[q]
        exit_fee = fee_rate * size * exit_px
        pnl = gross - entry_fee - exit_fee
        cash = cash + gross - exit_fee  # the entry fee left the cash at entry
        tr_xi[q] = i
        tr_xp[q] = exit_px
        tr_fees[q] = entry_fee + exit_fee
        tr_pnl[q] = pnl
        tr_reason[q] = reason
    if cash < 0.0:  # equity never goes negative (the last leg takes the cut)
        tr_pnl[k - 1] = pnl - cash
        cash = 0.0
    return cash


@numba.njit(cache=True, nogil=True)
def _nearer(side: int, avg: float, inv_lev: float, sl_level: float, tp_px: float) -> Levels:
    """(stop, its reason, target): the stop is the nearer of the stop level and the liquidation price."""
    if side == 1:
        liq = avg * (1.0 - inv_lev)
        if sl_level >= liq:
            return sl_level, STOP_LOSS, tp_px
        return liq, LIQUIDATION, tp_px
    liq = avg * (1.0 + inv_lev)
    if sl_level <= liq:
        return sl_level, STOP_LOSS, tp_px
    return liq, LIQUIDATION, tp_px


@numba.njit(cache=True, nogil=True)
def _levels(side: int, avg: float, inv_lev: float, sl: float, tp: float, has_sl: bool, has_tp: bool) -> Levels:
    """The levels of the settings' stop loss and take profit (fractions of the average entry price)."""
    if side == 1:
        sl_level = avg * (1.0 - sl) if has_sl else -np.inf
        tp_px = avg * (1.0 + tp) if has_tp else np.inf
    else:
        sl_level = avg * (1.0 + sl) if has_sl else np.inf
        tp_px = avg * (1.0 - tp) if has_tp else -np.inf
    return _nearer(side, avg, inv_lev, sl_level, tp_px)


@numba.njit(cache=True, nogil=True)
def _row_levels(lv: Floats, j: int, side: int, avg: float, inv_lev: float) -> Levels:
    """The levels the strategy gave on bar ``j`` (rule 13): a × the average entry price + b, per side; NaN a: none."""
    col = 0 if side == 1 else 4
    sa = lv[j, col]
    ta = lv[j, col + 2]
    if side == 1:
        sl_level = -np.inf if np.isnan(sa) else sa * avg + lv[j, col + 1]
        tp_px = np.inf if np.isnan(ta) else ta * avg + lv[j, col + 3]
    else:
        sl_level = np.inf if np.isnan(sa) else sa * avg + lv[j, col + 1]
        tp_px = -np.inf if np.isnan(ta) else ta * avg + lv[j, col + 3]
    return _nearer(side, avg, inv_lev, sl_level, tp_px)


@numba.njit(cache=True, nogil=True)
def _stops(
    lv: Floats, j: int, side: int, avg: float, inv_lev: float, sl: float, tp: float, has_sl: bool, has_tp: bool
) -> Levels:
    """The levels of a position entered (or added to) on the open after bar ``j``: the strategy's when it gives
    them, else the settings'."""
    if lv.shape[0] > 0:
        return _row_levels(lv, j, side, avg, inv_lev)
    return _levels(side, avg, inv_lev, sl, tp, has_sl, has_tp)


@numba.njit(cache=True, nogil=True)
def _record(
    k: int, side: int, i: int, fill: float, size: float, notional: float, margin: float,
    tr_side: Int8s, tr_ei: Ints, tr_ep: Floats, tr_size: Floats, tr_notional: Floats, tr_margin: Floats,
) -> None:  # fmt: skip
    """Trade ``k`` opens: one entry (a leg) at ``fill`` on bar ``i``."""
    tr_side[k] = side
    tr_ei[k] = i
    tr_ep[k] = fill
    tr_size[k] = size
    tr_notional[k] = notional
    tr_margin[k] = margin


@numba.njit(cache=True, nogil=True)
def simulate(
    t: Ints, o: Floats, h: Floats, lo: Floats, c: Floats,
    long_entry: Bools, long_exit: Bools, short_entry: Bools, short_exit: Bools, long_add: Bools, short_add: Bools,
    lv: Floats, ib_t: Ints, ib_h: Floats, ib_l: Floats, step_ms: np.int64,
    capital: float, fee_rate: float, slip: float, leverage: float, size_frac: float, sl: float, tp: float,
    allow_long: bool, allow_short: bool, trail: float, trail_from: float, pyramiding: np.int64,
) -> tuple[
    Ints, Floats, Int8s, Ints, Ints, Floats, Floats, Floats, Floats, Floats, Floats, Floats, Int8s
]:  # fmt: skip
    """Run the backtest.

    ``sl``/``tp`` are fractions (0.02 = 2 %), NaN for none; ``slip`` is a fraction (5 bps = 0.0005).
    ``trail`` is the trailing stop's distance as a fraction of the entry price (NaN for none), ``trail_from``
    the gain (a fraction of the entry price) the best price must reach before the trail starts. ``long_add`` /
    ``short_add`` add an entry to a position held in that direction, up to ``pyramiding`` entries. ``lv`` (n × 8,
    or 0 × 8 for none) holds stop and target levels the strategy gives bar by bar (rule 13): they replace ``sl``
    and ``tp``.
    ``ib_*`` is the lower timeframe (may be empty). ``step_ms`` is the bar length, used for the last
    bar's end when scanning intrabar candles.

    Returns ``(stats, equity, side, entry_idx, exit_idx, entry_price, exit_price, size, notional,
    margin, fees, pnl, reason)``; trade arrays are valid up to ``stats[STAT_TRADES]``.
    """
    n = o.shape[0]
    m = ib_t.shape[0]
    cap = n + 1
    tr_side = np.empty(cap, np.int8)
    tr_ei = np.empty(cap, np.int64)
    tr_xi = np.empty(cap, np.int64)
    tr_ep = np.empty(cap, np.float64)
    tr_xp = np.empty(cap, np.float64)
    tr_size = np.empty(cap, np.float64)
    tr_notional = np.empty(cap, np.float64)
    tr_margin = np.empty(cap, np.float64)
    tr_fees = np.empty(cap, np.float64)
    tr_pnl = np.empty(cap, np.float64)
    tr_reason = np.empty(cap, np.int8)
    equity = np.empty(n, np.float64)
    stats = np.zeros(4, np.int64)

    has_lv = lv.shape[0] > 0
    has_sl = not np.isnan(sl)
    has_tp = not np.isnan(tp)
    open_tp = has_tp or has_lv  # a target may rest
    has_trail = not np.isnan(trail)
    inv_lev = 1.0 / leverage

    cash = capital
    halted = cash <= 0.0
    pos = 0  # +1 long, -1 short, 0 flat
    k = 0  # number of trades opened so far; the open legs (if any) are k - legs .. k - 1
    legs = 0  # entries in the open position (one trade each; more than one only with pyramiding)
    entry_px = 0.0  # the open position's average entry price
    size = 0.0
    stop_px = 0.0  # the nearer of stop loss and liquidation
    stop_reason = STOP_LOSS
    tp_px = 0.0
    best = 0.0  # the best price (long: highest high, short: lowest low) of the closed bars since the entry
    exposed = 0
    ambiguous = 0
    resolved = 0
    ib_k = 0

    for i in range(n):
        oi = o[i]
        pos_before = pos
        # --- what the signals of bar i-1 ask for, judged against the position held at that close
        exit_sig = False
        new_side = 0
        add: bool | np.bool_ = False  # a signal array's element, compared with the np.int64 pyramiding
        if i > 0 and not halted:
            j = i - 1
            if pos_before == 1:
                exit_sig = long_exit[j] or (allow_short and short_entry[j])
                if allow_short and short_entry[j] and not short_exit[j]:
                    new_side = -1
                add = long_add[j] and not exit_sig and legs < pyramiding
            elif pos_before == -1:
                exit_sig = short_exit[j] or (allow_long and long_entry[j])
                if allow_long and long_entry[j] and not long_exit[j]:
                    new_side = 1
                add = short_add[j] and not exit_sig and legs < pyramiding
            else:
                want_long = allow_long and long_entry[j] and not long_exit[j]
                want_short = allow_short and short_entry[j] and not short_exit[j]
                if want_long and not want_short:
                    new_side = 1
                elif want_short and not want_long:
                    new_side = -1

        # --- at the open: a resting stop / target the bar opened beyond, then the signal exit
        if pos != 0:
            reason = -1
            px = oi
            if pos == 1:
                if oi <= stop_px:
                    px, reason = oi * (1.0 - slip), stop_reason
                elif open_tp and oi >= tp_px:
                    reason = TAKE_PROFIT
                elif exit_sig:
                    px, reason = oi * (1.0 - slip), (REVERSAL if new_side == -1 else SIGNAL)
            else:
                if oi >= stop_px:
                    px, reason = oi * (1.0 + slip), stop_reason
                elif open_tp and oi <= tp_px:
                    reason = TAKE_PROFIT
                elif exit_sig:
                    px, reason = oi * (1.0 + slip), (REVERSAL if new_side == 1 else SIGNAL)
            if reason >= 0:
                cash = _close(k - legs, k, i, pos, px, reason, cash, fee_rate,
                              tr_size, tr_notional, tr_margin, tr_ep,
                              tr_xi, tr_xp, tr_fees, tr_pnl, tr_reason)  # fmt: skip
                pos = 0
            if cash <= 0.0:
                halted = True
            if pos == 0:
                legs = 0

        # --- another entry in the direction held (pyramiding): sized from the equity marked at the open; the
        # stop, target and liquidation follow the new average entry price
        if add and pos == pos_before and not halted:
            fill = oi * (1.0 + slip) if pos == 1 else oi * (1.0 - slip)
            equity_now = cash + pos * size * (oi - entry_px)
            if equity_now > 0.0:
                add_margin = equity_now * size_frac
                notional = add_margin * leverage
                add_size = notional / fill
                cash -= fee_rate * notional
                entry_px = (size * entry_px + add_size * fill) / (size + add_size)
                size += add_size
                _record(k, pos, i, fill, add_size, notional, add_margin,
                        tr_side, tr_ei, tr_ep, tr_size, tr_notional, tr_margin)  # fmt: skip
                k += 1
                legs += 1
                stop_px, stop_reason, tp_px = _stops(lv, i - 1, pos, entry_px, inv_lev, sl, tp, has_sl, has_tp)

        # --- entry at the open
        if pos == 0 and new_side != 0 and not halted:
            fill = oi * (1.0 + slip) if new_side == 1 else oi * (1.0 - slip)
            margin = cash * size_frac
            notional = margin * leverage
            size = notional / fill
            entry_fee = fee_rate * notional
            cash -= entry_fee
            entry_px = fill
            pos = new_side
            _record(k, pos, i, fill, size, notional, margin,
                    tr_side, tr_ei, tr_ep, tr_size, tr_notional, tr_margin)  # fmt: skip
            k += 1
            legs = 1
            best = fill
            stop_px, stop_reason, tp_px = _stops(lv, i - 1, pos, fill, inv_lev, sl, tp, has_sl, has_tp)

        if pos_before != 0 or pos != 0:
            exposed += 1

        # --- inside the bar: stop / liquidation / take profit against high and low
        if pos != 0:
            if pos == 1:
                hit_stop = lo[i] <= stop_px
                hit_tp = h[i] >= tp_px
            else:
                hit_stop = h[i] >= stop_px
                hit_tp = lo[i] <= tp_px
            if hit_stop and hit_tp:
                ambiguous += 1
                take_tp = False
                if m > 0:
                    bar_end = t[i + 1] if i + 1 < n else t[i] + step_ms
                    while ib_k < m and ib_t[ib_k] < t[i]:
                        ib_k += 1
                    q = ib_k
                    while q < m and ib_t[q] < bar_end:
                        if pos == 1:
                            s_hit = ib_l[q] <= stop_px
                            t_hit = ib_h[q] >= tp_px
                        else:
                            s_hit = ib_h[q] >= stop_px
                            t_hit = ib_l[q] <= tp_px
                        if s_hit and t_hit:
                            break  # both inside one lower candle: stop first
                        if s_hit:
                            resolved += 1
                            break
                        if t_hit:
                            resolved += 1
                            take_tp = True
                            break
                        q += 1
                hit_stop = not take_tp
                hit_tp = take_tp
            if hit_stop:
                px = min(stop_px, oi) * (1.0 - slip) if pos == 1 else max(stop_px, oi) * (1.0 + slip)
                cash = _close(k - legs, k, i, pos, px, stop_reason, cash, fee_rate,
                              tr_size, tr_notional, tr_margin, tr_ep,
                              tr_xi, tr_xp, tr_fees, tr_pnl, tr_reason)  # fmt: skip
                pos = 0
            elif hit_tp:
                cash = _close(k - legs, k, i, pos, tp_px, TAKE_PROFIT, cash, fee_rate,
                              tr_size, tr_notional, tr_margin, tr_ep,
                              tr_xi, tr_xp, tr_fees, tr_pnl, tr_reason)  # fmt: skip
                pos = 0
            if cash <= 0.0:
                halted = True

        # --- after the close: the levels the strategy gives on this bar act from the next one (rule 13)
        if pos != 0 and has_lv:
            stop_px, stop_reason, tp_px = _row_levels(lv, i, pos, entry_px, inv_lev)

        # --- after the close: the trailing stop follows the best price of the closed bars (it never loosens)
        if pos != 0 and has_trail:
            if pos == 1:
                best = max(best, h[i])
                if best >= entry_px * (1.0 + trail_from):
                    level = best - entry_px * trail
                    if level > stop_px:
                        stop_px = level
                        stop_reason = STOP_LOSS
            else:
                best = min(best, lo[i])
                if best <= entry_px * (1.0 - trail_from):
                    level = best + entry_px * trail
                    if level < stop_px:
                        stop_px = level
                        stop_reason = STOP_LOSS

        # --- mark to market at the close
        if pos != 0:
            eq = cash + pos * size * (c[i] - entry_px)
            equity[i] = eq if eq > 0.0 else 0.0
        else:
            equity[i] = cash

    if pos != 0:  # still open after the last bar: close at the last close
        cash = _close(k - legs, k, n - 1, pos, c[n - 1], END, cash, fee_rate,
                              tr_size, tr_notional, tr_margin, tr_ep,
                              tr_xi, tr_xp, tr_fees, tr_pnl, tr_reason)  # fmt: skip
        equity[n - 1] = cash

    stats[STAT_TRADES] = k
    stats[STAT_AMBIGUOUS] = ambiguous
    stats[STAT_RESOLVED] = resolved
    stats[STAT_EXPOSED_BARS] = exposed
    return (
        stats, equity, tr_side, tr_ei, tr_xi, tr_ep, tr_xp, tr_size, tr_notional, tr_margin, tr_fees, tr_pnl,
        tr_reason,
    )  # fmt: skip


@numba.njit(cache=True, nogil=True, fastmath=True)  # branch-free loops that vectorise
def equity_stats(equity: Floats) -> tuple[float, float, float, float]:
    """Per-bar simple returns of ``equity`` (0 after a bar at 0): their mean, sample standard deviation
    and downside deviation (root mean square of the negative ones), and the maximum drawdown as a
    fraction of the running peak (equity is never negative and starts above 0). No temporaries."""
    n = equity.shape[0]
    count = n - 1
    total = 0.0
    squares = 0.0
    down = 0.0
    for i in range(1, n):
        prev = equity[i - 1]
        r = equity[i] / prev - 1.0 if prev > 0.0 else 0.0
        total += r
        squares += r * r
        negative = min(r, 0.0)
        down += negative * negative
    peak = equity[0] if n > 0 else 1.0
    low_ratio = 1.0  # the lowest equity / running peak
    for i in range(1, n):
        peak = max(peak, equity[i])
        low_ratio = min(low_ratio, equity[i] / peak)
    max_dd = 1.0 - low_ratio if peak > 0.0 else 0.0
    if count < 1:
        return 0.0, np.nan, np.nan, max_dd
    mean = total / count
    std = np.nan
    if count > 1:
        var = (squares - count * mean * mean) / (count - 1)
        std = np.sqrt(var) if var > 0.0 else 0.0
    return mean, std, np.sqrt(down / count), max_dd


def readonly(*arrays: np.ndarray) -> list[np.ndarray]:
    """Read-only C-contiguous views: pandas hands out read-only arrays, and one array type means one
    compiled specialisation (the one ``warm_up`` loads)."""
    views = []
    for array in arrays:
        view = np.ascontiguousarray(array).view()
        view.flags.writeable = False
        views.append(view)
    return views


def warm_up() -> float:
    """Load (or compile) the kernel by running it on tiny arrays; returns the seconds it took."""
    started = time.perf_counter()
    n = 4
    t = np.arange(n, dtype=np.int64) * 60_000
    price = np.array([100.0, 101.0, 99.0, 102.0])
    flags = np.array([True, False, False, False])
    none = np.zeros(n, dtype=np.bool_)
    no_levels = np.empty((0, LEVEL_WIDTH), dtype=np.float64)
    ib_t = np.empty(0, dtype=np.int64)
    ib_p = np.empty(0, dtype=np.float64)
    # mypy maps a spread list of unknown length onto every parameter (the scalars too): the ignores below
    simulate(  # type: ignore[call-arg]
        *readonly(t, price, price + 1.0, price - 1.0, price, flags, none, none, none, flags, none,  # type: ignore[arg-type]
                  no_levels, ib_t, ib_p, ib_p),
        np.int64(60_000),
        10_000.0, 0.001, 0.0005, 1.0, 0.1, 0.02, 0.04, True, True, 0.03, 0.0, np.int64(2),
    )  # fmt: skip
    equity_stats(price.copy())  # writable, like the equity array simulate returns
    return time.perf_counter() - started
