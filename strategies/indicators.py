"""Technical indicators as TradingView's Pine built-ins define them (pure: numpy, pandas, numba; no Django).

Every function takes pandas Series (``high``/``low``/``close`` of the same frame) and returns a float64
Series or DataFrame on the same index, NaN during the warm-up; ``crossover``/``crossunder`` return bool.
The definitions follow the Pine v5 reference implementations (``pine_ema``, ``pine_rma``, ``pine_rsi``,
``pine_stdev``, ``pine_atr``, ``pine_supertrend``…), so the numbers match a TradingView chart once the
recursive averages have the same history behind them.

Conventions (each function's docstring gives its own formula, seed and warm-up):

- Warm-up is stated as the index of the first non-NaN value for input without NaN. Leading NaN in the
  input shift everything by their count.
- Windowed values (SMA, highest/lowest, stdev, stoch, donchian) are NaN while a NaN lies in the window.
- Recursive averages (EMA, RMA and RSI/MACD/ATR built on them) are seeded with the SMA of their first
  ``length`` non-NaN inputs — Pine's documented ``pine_ema``/``pine_rma`` and TA-Lib do the same — so
  the first value sits at index ``length - 1`` of the valid input. After the seed a NaN input is skipped
  (the average holds), as Pine's ``ta.ema``/``ta.rma`` ignore ``na``.
- No function looks ahead: the value at bar t depends on bars up to and including t only, so computing on
  ``candles[:n]`` gives exactly (bit for bit) the first n values of computing on all candles. The Ichimoku
  cloud is shifted *forward* to where TradingView draws it, never backward.

The loops run in numba (``strategies._kernels``) on plain read-only float64 arrays, never on the index;
call ``strategies._kernels.warm_up()`` once at process start to load the compiled code.

Why this file is long: it is the one place of every Pine ``ta.*`` function Trendy computes, for the built-in
strategies and for community Pine scripts alike, each with its formula, seed and warm-up beside its code.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from strategies import _kernels

__all__ = [
    "atr",
    "barssince",
    "bollinger",
    "change",
    "cross",
    "crossover",
    "crossunder",
    "cum",
    "donchian",
    "ema",
    "highest",
    "ichimoku",
    "lowest",
    "macd",
    "pivothigh",
    "pivotlow",
    "rma",
    "rsi",
    "sma",
    "stdev",
    "stoch",
    "supertrend",
    "true_range",
    "valuewhen",
    "vwma",
    "wma",
]


# --- plumbing ------------------------------------------------------------------------------------------


def _values(src: pd.Series | np.ndarray) -> np.ndarray:
    """The values as a read-only C-contiguous float64 array (no copy when they already are): one array
    type for every kernel call, the one ``_kernels.warm_up`` compiles."""
    values = np.ascontiguousarray(src.to_numpy(dtype="float64") if isinstance(src, pd.Series) else src, "float64")
    if values.ndim != 1:
        raise ValueError("indicators take one-dimensional series")
    if values.flags.writeable:
        values = values.view()
        values.flags.writeable = False
    return values


def _index(src: pd.Series | np.ndarray) -> pd.Index:
    return src.index if isinstance(src, pd.Series) else pd.RangeIndex(len(src))


def _ohlc(*series: pd.Series) -> list[np.ndarray]:
    arrays = [_values(s) for s in series]
    if len({a.shape[0] for a in arrays}) != 1:
        raise ValueError("high, low and close must have the same length")
    return arrays


def _length(value: int, name: str = "length") -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _series(values: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index, copy=False)


def _frame(rows: np.ndarray, index: pd.Index, columns: list[str]) -> pd.DataFrame:
    # rows has shape (columns, n), C order: its transpose is exactly the block pandas keeps, no copy.
    return pd.DataFrame(rows.T, index=index, columns=columns, copy=False)


# --- moving averages -----------------------------------------------------------------------------------


def sma(src: pd.Series, length: int) -> pd.Series:
    """Simple moving average (Pine ``ta.sma``).

    Formula: ``sma[t] = (src[t] + … + src[t-length+1]) / length``. Windows of up to 8 values are summed
    afresh at every bar (so e.g. a smoothed %K of values in [0, 100] stays in [0, 100]); longer ones keep
    a running sum (as TA-Lib) that is summed afresh every ``length`` bars, so rounding never accumulates.
    Warm-up: first value at index ``length - 1``; NaN while a NaN is in the window.
    Returns a float64 Series.
    """
    return _series(_kernels.sma(_values(src), _length(length)), _index(src))


def ema(src: pd.Series, length: int) -> pd.Series:
    """Exponential moving average (Pine ``ta.ema``), ``alpha = 2 / (length + 1)``.

    Formula: ``ema[t] = alpha * src[t] + (1 - alpha) * ema[t-1]``.
    Seed: the SMA of the first ``length`` non-NaN values (Pine's documented ``pine_ema``, and TA-Lib).
    Warm-up: first value at index ``length - 1`` (of the valid data); after that a NaN input holds the
    previous value. Returns a float64 Series.
    """
    length = _length(length)
    return _series(_kernels.seeded_average(_values(src), length, 2.0 / (length + 1)), _index(src))


def rma(src: pd.Series, length: int) -> pd.Series:
    """Wilder's moving average (Pine ``ta.rma``), ``alpha = 1 / length``.

    Formula: ``rma[t] = alpha * src[t] + (1 - alpha) * rma[t-1]``.
    Seed: the SMA of the first ``length`` non-NaN values (``pine_rma``: ``na(sum[1]) ? ta.sma(src, length)``).
    Warm-up: first value at index ``length - 1``; after that a NaN input holds the previous value.
    Returns a float64 Series.
    """
    length = _length(length)
    return _series(_kernels.seeded_average(_values(src), length, 1.0 / length), _index(src))


# --- oscillators ---------------------------------------------------------------------------------------


def rsi(src: pd.Series, length: int = 14) -> pd.Series:
    """Relative strength index (Pine ``ta.rsi``).

    Formula: ``change = src - src[1]``, ``up = rma(max(change, 0), length)``,
    ``down = rma(max(-change, 0), length)``; ``rsi = 100`` when ``down == 0`` (also when both are 0, as
    TradingView's RSI indicator: ``down == 0 ? 100 : up == 0 ? 0 : 100 - 100 / (1 + up / down)``),
    ``0`` when ``up == 0``, else ``100 - 100 / (1 + up / down)``.
    Seed: both RMAs start from the mean of the first ``length`` changes (TA-Lib does the same).
    Warm-up: first value at index ``length`` (the first change is at index 1). Returns a float64 Series in
    [0, 100].
    """
    return _series(_kernels.rsi(_values(src), _length(length)), _index(src))


def macd(src: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """Moving average convergence/divergence (Pine ``ta.macd``).

    Formula: ``macd = ema(src, fast) - ema(src, slow)``, ``signal = ema(macd, signal)``,
    ``hist = macd - signal``; every EMA seeded with the SMA of its first ``length`` valid inputs (see
    ``ema``), so the signal line's seed is the mean of the first ``signal`` MACD values.
    Warm-up: ``macd`` from index ``max(fast, slow) - 1`` (25 for 12/26); ``signal`` and ``hist`` from
    ``max(fast, slow) + signal - 2`` (33 for 12/26/9).
    Returns a DataFrame with columns ``macd``, ``signal``, ``hist``.
    """
    rows = _kernels.macd(_values(src), _length(fast, "fast"), _length(slow, "slow"), _length(signal, "signal"))
    return _frame(rows, _index(src), ["macd", "signal", "hist"])


def stoch(
    high: pd.Series, low: pd.Series, close: pd.Series, k: int = 14, smooth_k: int = 3, d: int = 3
) -> pd.DataFrame:
    """Stochastic oscillator (TradingView's "Stoch": ``ta.stoch`` smoothed twice).

    Formula: ``raw = 100 * (close - lowest(low, k)) / (highest(high, k) - lowest(low, k))`` (Pine
    ``ta.stoch``), ``k = sma(raw, smooth_k)``, ``d = sma(k, d)``. When the k-bar range is 0 (highest ==
    lowest) Pine divides by zero and gets ``na``: ``raw`` is NaN there, so ``k`` is NaN for the next
    ``smooth_k`` bars and ``d`` for ``smooth_k + d - 1`` (TA-Lib writes 0 instead).
    Warm-up: ``k`` from index ``k + smooth_k - 2`` (15 for 14/3/3), ``d`` from ``k + smooth_k + d - 3``
    (17). Returns a DataFrame with columns ``k`` and ``d``, in [0, 100].
    """
    h, lo, c = _ohlc(high, low, close)
    rows = _kernels.stoch(h, lo, c, _length(k, "k"), _length(smooth_k, "smooth_k"), _length(d, "d"))
    return _frame(rows, _index(close), ["k", "d"])


# --- bands and ranges ----------------------------------------------------------------------------------


def bollinger(src: pd.Series, length: int = 20, mult: float = 2.0) -> pd.DataFrame:
    """Bollinger Bands (Pine ``ta.bb``).

    Formula: ``basis = sma(src, length)``, ``dev = mult * stdev``, ``upper = basis + dev``,
    ``lower = basis - dev``, where stdev is Pine's ``ta.stdev``: the *population* standard deviation
    (ddof=0) ``sqrt(sum((src[i] - basis)^2, i over the window) / length)``, computed in two passes over
    each window (deviations within 1e-10 of zero count as zero, as in Pine's reference).
    Warm-up: first value at index ``length - 1``. Returns a DataFrame with columns ``basis``, ``upper``,
    ``lower``.
    """
    rows = _kernels.bollinger(_values(src), _length(length), float(mult))
    return _frame(rows, _index(src), ["basis", "upper", "lower"])


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """True range (Pine ``ta.tr(true)``, as used by ``ta.atr``).

    Formula: ``max(high - low, |high - close[1]|, |low - close[1]|)``; ``high - low`` on the first bar
    (no previous close) and wherever the previous close is NaN.
    Warm-up: none, first value at index 0. Returns a float64 Series.
    """
    h, lo, c = _ohlc(high, low, close)
    return _series(_kernels.true_range(h, lo, c), _index(close))


def atr(high: pd.Series, low: pd.Series, close: pd.Series, length: int = 14) -> pd.Series:
    """Average true range (Pine ``ta.atr``): ``rma(true_range, length)``.

    Seed: the mean of the first ``length`` true ranges, the first one being ``high - low`` of bar 0
    (TA-Lib instead starts at bar 1 and puts its first value at index ``length``; the two converge
    geometrically, by a factor ``(length - 1) / length`` a bar).
    Warm-up: first value at index ``length - 1``. Returns a float64 Series.
    """
    h, lo, c = _ohlc(high, low, close)
    return _series(_kernels.atr(h, lo, c, _length(length)), _index(close))


def highest(src: pd.Series, length: int) -> pd.Series:
    """Highest value of the last ``length`` bars, the current one included (Pine ``ta.highest``).

    Warm-up: first value at index ``length - 1``; NaN while a NaN is in the window. Returns a Series.
    """
    return _series(_kernels.rolling_max(_values(src), _length(length)), _index(src))


def lowest(src: pd.Series, length: int) -> pd.Series:
    """Lowest value of the last ``length`` bars, the current one included (Pine ``ta.lowest``).

    Warm-up: first value at index ``length - 1``; NaN while a NaN is in the window. Returns a Series.
    """
    return _series(_kernels.rolling_min(_values(src), _length(length)), _index(src))


def donchian(high: pd.Series, low: pd.Series, length: int) -> pd.Series:
    """Donchian channel midpoint (Ichimoku's ``donchian(len) => math.avg(ta.lowest(len), ta.highest(len))``).

    Formula: ``(highest(high, length) + lowest(low, length)) / 2`` (TA-Lib ``MIDPRICE``).
    Warm-up: first value at index ``length - 1``. Returns a float64 Series.
    """
    h, lo = _ohlc(high, low)
    return _series(_kernels.donchian(h, lo, _length(length)), _index(high))


# --- trend ---------------------------------------------------------------------------------------------


def supertrend(
    high: pd.Series, low: pd.Series, close: pd.Series, factor: float = 3.0, atr_period: int = 10
) -> pd.DataFrame:
    """SuperTrend, exactly Pine's ``[supertrend, direction] = ta.supertrend(factor, atrPeriod)`` (a port of
    the ``pine_supertrend`` reference code in the Pine v5 manual).

    Formula: ``upper = hl2 + factor * atr(atr_period)``, ``lower = hl2 - factor * atr``; the lower band
    only rises (it resets when it rises or the previous close fell below it), the upper band only falls
    (it resets when it falls or the previous close rose above it); ``nz()`` of a missing previous band is
    0. Direction: 1 on the first bar with an ATR; afterwards, if the previous line was the upper band,
    ``-1`` when ``close > upper`` else ``1``; if it was the lower band, ``1`` when ``close < lower`` else
    ``-1``. The line is the lower band when direction is -1, the upper band when +1.
    Sign convention (Pine's): ``direction == -1`` is an up-trend (bullish, line below price),
    ``direction == +1`` a down-trend (line above price).
    Warm-up: both columns from index ``atr_period - 1`` (the ATR's first value).
    Returns a DataFrame with columns ``supertrend`` (float64) and ``direction`` (float64: -1.0 / 1.0).
    """
    h, lo, c = _ohlc(high, low, close)
    rows = _kernels.supertrend(h, lo, c, float(factor), _length(atr_period, "atr_period"))
    return _frame(rows, _index(close), ["supertrend", "direction"])


def ichimoku(
    high: pd.Series,
    low: pd.Series,
    close: pd.Series,
    conversion: int = 9,
    base: int = 26,
    span_b: int = 52,
    displacement: int = 26,
) -> pd.DataFrame:
    """Ichimoku Kinko Hyo as TradingView's built-in "Ichimoku Cloud" computes and draws it.

    Columns, each at bar t:

    - ``conversion`` (Tenkan) = ``donchian(conversion)``; first value at index ``conversion - 1`` (8).
    - ``base`` (Kijun) = ``donchian(base)``; from index ``base - 1`` (25).
    - ``span_a`` = ``(conversion + base) / 2`` and ``span_b`` = ``donchian(span_b)``, both as computed AT
      bar t (unshifted); from index ``max(conversion, base) - 1`` (25) and ``span_b - 1`` (51).
    - ``cloud_a`` / ``cloud_b`` = the leading spans TradingView draws at bar t. TradingView plots the
      spans with ``offset = displacement - 1`` (25 bars ahead for 26, not 26), so
      ``cloud_a[t] = span_a[t - (displacement - 1)]``: past data only, safe for a signal. From index
      ``max(conversion, base) + displacement - 2`` (50) and ``span_b + displacement - 2`` (76).
    - ``lagging`` (Chikou) = ``close``, unshifted. TradingView draws it ``displacement - 1`` bars back;
      shifting it back here would put future closes on past bars. A strategy tests the lagging span by
      comparing ``close[t]`` with values ``displacement - 1`` bars earlier (e.g.
      ``close.shift(displacement - 1)``) instead.

    Returns a float64 DataFrame with those seven columns.
    """
    h, lo, c = _ohlc(high, low, close)
    rows = _kernels.ichimoku(
        h,
        lo,
        c,
        _length(conversion, "conversion"),
        _length(base, "base"),
        _length(span_b, "span_b"),
        _length(displacement, "displacement") - 1,
    )
    return _frame(rows, _index(close), ["conversion", "base", "span_a", "span_b", "cloud_a", "cloud_b", "lagging"])


# --- events --------------------------------------------------------------------------------------------


def _pair(a: pd.Series | float, b: pd.Series | float) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    if not isinstance(a, pd.Series) and not isinstance(b, pd.Series):
        raise TypeError("crossover/crossunder need at least one Series")
    like: pd.Series = a if isinstance(a, pd.Series) else b  # one of the two is a Series (checked above)
    av = _values(a) if isinstance(a, pd.Series) else np.full(len(like), float(a))
    bv = _values(b) if isinstance(b, pd.Series) else np.full(len(like), float(b))
    if av.shape != bv.shape:
        raise ValueError("crossover/crossunder need series of the same length (same index)")
    return av, bv, like.index


def crossover(a: pd.Series, b: pd.Series | float) -> pd.Series:
    """Pine ``ta.crossover(a, b)``: ``a[t] > b[t] and a[t-1] <= b[t-1]``.

    ``b`` (or ``a``) may be a number (a level such as 30). False on the first bar and wherever a value
    involved is NaN. Series are compared by position (they share the candles' index).
    Returns a bool Series.
    """
    av, bv, index = _pair(a, b)
    out = np.zeros(av.shape[0], dtype=bool)
    np.logical_and(av[1:] > bv[1:], av[:-1] <= bv[:-1], out=out[1:])
    return pd.Series(out, index=index, copy=False)


def crossunder(a: pd.Series, b: pd.Series | float) -> pd.Series:
    """Pine ``ta.crossunder(a, b)``: ``a[t] < b[t] and a[t-1] >= b[t-1]``.

    ``b`` (or ``a``) may be a number. False on the first bar and wherever a value involved is NaN.
    Returns a bool Series.
    """
    av, bv, index = _pair(a, b)
    out = np.zeros(av.shape[0], dtype=bool)
    np.logical_and(av[1:] < bv[1:], av[:-1] >= bv[:-1], out=out[1:])
    return pd.Series(out, index=index, copy=False)


def cross(a: pd.Series, b: pd.Series | float) -> pd.Series:
    """Pine ``ta.cross(a, b)``: ``crossover(a, b) or crossunder(a, b)``. Returns a bool Series."""
    return crossover(a, b) | crossunder(a, b)


# --- more of Pine's ta.* (used by community Pine strategies, strategies.pine) ------------------------------


def wma(src: pd.Series, length: int) -> pd.Series:
    """Weighted moving average (Pine ``ta.wma``): weights ``length, length - 1, …, 1`` from the newest bar.

    Formula: ``sum(src[t-i] * (length - i), i < length) / (length * (length + 1) / 2)`` (TA-Lib ``WMA``).
    Warm-up: first value at index ``length - 1``; NaN while a NaN is in the window. Returns a Series.
    """
    length = _length(length)
    values = _values(src)
    out = np.full(values.shape[0], np.nan)
    if values.shape[0] >= length:
        weights = np.arange(1, length + 1, dtype="float64")
        out[length - 1 :] = np.convolve(values, weights[::-1], mode="valid")[: values.shape[0] - length + 1]
        out[length - 1 :] /= weights.sum()
    return _series(out, _index(src))


def vwma(src: pd.Series, volume: pd.Series, length: int) -> pd.Series:
    """Volume-weighted moving average (Pine ``ta.vwma``): ``sma(src * volume, length) / sma(volume, length)``.

    Warm-up: first value at index ``length - 1``; NaN where the window's volume sums to zero. Returns a Series.
    """
    price, weight = _ohlc(src, volume)
    index = _index(src)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = _kernels.sma(_values(price * weight), _length(length)) / _kernels.sma(weight, _length(length))
    out[~np.isfinite(out)] = np.nan
    return _series(out, index)


def stdev(src: pd.Series, length: int, biased: bool = True) -> pd.Series:
    """Standard deviation of the last ``length`` bars (Pine ``ta.stdev``).

    ``biased=True`` (Pine's default) is the population deviation (ddof 0), computed in two passes over each
    window exactly as ``bollinger``'s (the same kernel, with a multiplier of 1); ``biased=False`` scales it by
    ``sqrt(length / (length - 1))`` (ddof 1; NaN for a window of one). Warm-up: first value at index
    ``length - 1``. Returns a Series.
    """
    length = _length(length)
    rows = _kernels.bollinger(_values(src), length, 1.0)
    out = rows[1] - rows[0]
    if not biased:
        out = out * math.sqrt(length / (length - 1)) if length > 1 else np.full(out.shape[0], np.nan)
    return _series(out, _index(src))


def change(src: pd.Series, length: int = 1) -> pd.Series:
    """Pine ``ta.change(src, length)``: ``src[t] - src[t-length]``; NaN for the first ``length`` bars.
    Returns a float64 Series (a bool source is read as 0/1)."""
    length = _length(length)
    values = _values(src)
    out = np.full(values.shape[0], np.nan)
    out[length:] = values[length:] - values[:-length]
    return _series(out, _index(src))


def cum(src: pd.Series) -> pd.Series:
    """Pine ``ta.cum(src)``: the running total of ``src`` from the first bar, a NaN counted as 0 (as
    ``nz``); NaN only before the first non-NaN value. Returns a float64 Series."""
    values = _values(src)
    out = np.cumsum(np.nan_to_num(values, nan=0.0))
    valid = ~np.isnan(values)
    if valid.any():
        out[: int(np.argmax(valid))] = np.nan
    else:
        out[:] = np.nan
    return _series(out, _index(src))


def _pivots(values: np.ndarray, left: int, right: int, is_high: bool) -> np.ndarray:
    n = values.shape[0]
    out = np.full(n, np.nan)
    width = left + right + 1
    if n < width:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(values, width)
    centre = windows[:, left]
    others = np.delete(windows, left, axis=1)
    with np.errstate(invalid="ignore"):
        found = (centre[:, None] > others).all(axis=1) if is_high else (centre[:, None] < others).all(axis=1)
    found &= ~np.isnan(centre)
    # Known ``right`` bars after the pivot: the value is reported on bar pivot + right.
    out[width - 1 :][found] = centre[found]
    return out


def pivothigh(src: pd.Series, left: int, right: int) -> pd.Series:
    """Pine ``ta.pivothigh(src, leftbars, rightbars)``: on bar t, ``src[t-right]`` when it is strictly higher
    than each of the ``left`` bars before it and the ``right`` bars after it (known only ``right`` bars
    later, so nothing looks ahead); NaN elsewhere. Returns a float64 Series."""
    return _series(_pivots(_values(src), _length(left, "left"), _length(right, "right"), True), _index(src))


def pivotlow(src: pd.Series, left: int, right: int) -> pd.Series:
    """Pine ``ta.pivotlow``: as ``pivothigh`` with strictly lower. Returns a float64 Series."""
    return _series(_pivots(_values(src), _length(left, "left"), _length(right, "right"), False), _index(src))


def barssince(condition: pd.Series) -> pd.Series:
    """Pine ``ta.barssince(condition)``: bars since the condition was last true (0 on a bar where it is);
    NaN before it is first true. Returns a float64 Series."""
    flags = np.asarray(condition, dtype=bool)
    positions = np.arange(flags.shape[0], dtype="float64")
    last = np.where(flags, positions, np.nan)
    last = pd.Series(last).ffill().to_numpy()
    return _series(positions - last, _index(condition))


def valuewhen(condition: pd.Series, src: pd.Series, occurrence: int = 0) -> pd.Series:
    """Pine ``ta.valuewhen(condition, source, occurrence)``: ``src`` on the bar where the condition was true
    for the ``occurrence``-th most recent time (0: the latest, this bar included); NaN until it has been true
    ``occurrence + 1`` times. Returns a float64 Series."""
    if isinstance(occurrence, bool) or int(occurrence) != occurrence or occurrence < 0:
        raise ValueError(f"occurrence must be a whole number >= 0, got {occurrence!r}")
    flags = np.asarray(condition, dtype=bool)
    values = _values(src)
    hits = np.flatnonzero(flags)
    count = np.cumsum(flags)  # true bars so far, this one included
    out = np.full(flags.shape[0], np.nan)
    wanted = count - 1 - int(occurrence)
    ok = wanted >= 0
    out[ok] = values[hits[wanted[ok]]]
    return _series(out, _index(src))
