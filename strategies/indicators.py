"""Technical indicators as TradingView's Pine built-ins define them (pure: numpy, pandas, numba; no Django).

Every function takes pandas Series and returns a float64 Series or DataFrame on the same index, NaN
during the warm-up. The loops run in numba (``strategies._kernels``) on plain float64 arrays.

Conventions (each docstring states formula, seed, warm-up = index of the first non-NaN value, result):

- Seeds: recursive averages (EMA, RMA and what is built on them: RSI, MACD, ATR, SuperTrend) are seeded
  with the SMA of their first ``length`` values, as Pine's documented ``pine_ema``/``pine_rma`` and TA-Lib
  do (not with the first value). Leading NaN in the input shifts the seed: "first ``length`` values" means
  the first ``length`` non-NaN values, so every warm-up index below moves right by the number of leading
  NaN. An interior NaN bar leaves a recursive average unchanged (the bar repeats the previous value); a
  window (SMA, stdev, highest/lowest, Stoch) is NaN while it holds a NaN.
- No look-ahead: the value at bar t depends on bars up to and including t only, so computing on
  ``candles[:n]`` gives exactly the first n values of computing on all candles. The Ichimoku cloud is
  shifted *forward* (to where TradingView draws it), never backwards.
- Where TA-Lib differs (checked in ``tests/strategies/test_indicators.py``): its MACD seeds the fast EMA
  later and its ATR skips the first bar's true range (both converge; compared after 400 bars); its Stoch
  gives 0 on a zero high–low range where we give NaN (Pine's division by zero).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies import _kernels

__all__ = [
    "atr",
    "bollinger",
    "crossover",
    "crossunder",
    "donchian",
    "ema",
    "highest",
    "ichimoku",
    "lowest",
    "macd",
    "rma",
    "rsi",
    "sma",
    "stoch",
    "supertrend",
    "true_range",
]


def _f64(src: pd.Series) -> np.ndarray:
    return src.to_numpy(dtype="float64")


def _length(value: int, name: str = "length") -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return int(value)


def _series(values: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index, copy=False)


def _frame(rows: np.ndarray, index: pd.Index, columns: list[str]) -> pd.DataFrame:
    # rows is C-contiguous (columns, n): its transpose is exactly pandas' block layout, so no copy.
    return pd.DataFrame(rows.T, index=index, columns=columns, copy=False)


# --- Moving averages -----------------------------------------------------------------------------


def sma(src: pd.Series, length: int) -> pd.Series:
    """Simple moving average (Pine ``ta.sma``): sum(src[t − length + 1 .. t]) / length.

    Warm-up: first value at index ``length − 1``; NaN while the window holds a NaN.
    Returns a Series."""
    return _series(_kernels.rolling_mean(_f64(src), _length(length)), src.index)


def ema(src: pd.Series, length: int) -> pd.Series:
    """Exponential moving average (Pine ``ta.ema``): ema = α·src + (1 − α)·ema[1], α = 2 / (length + 1).

    Seed: the SMA of the first ``length`` non-NaN values (Pine's ``pine_ema``, TA-Lib's EMA).
    Warm-up: first value at index ``length − 1``. Returns a Series."""
    length = _length(length)
    return _series(_kernels.seeded_average(_f64(src), length, 2.0 / (length + 1)), src.index)


def rma(src: pd.Series, length: int) -> pd.Series:
    """Wilder's moving average (Pine ``ta.rma``): rma = α·src + (1 − α)·rma[1], α = 1 / length.

    Seed: the SMA of the first ``length`` non-NaN values. Warm-up: first value at index ``length − 1``.
    Returns a Series."""
    length = _length(length)
    return _series(_kernels.seeded_average(_f64(src), length, 1.0 / length), src.index)


# --- Oscillators ---------------------------------------------------------------------------------


def rsi(src: pd.Series, length: int = 14) -> pd.Series:
    """Relative strength index (Pine ``ta.rsi``).

    change = src − src[1]; up = RMA(max(change, 0), length), down = RMA(max(−change, 0), length), each
    seeded with the SMA of the first ``length`` changes; rsi = 100 if down == 0, else 0 if up == 0, else
    100 − 100 / (1 + up / down). Warm-up: first value at index ``length`` (the first change is at index 1).
    Returns a Series in [0, 100]."""
    return _series(_kernels.rsi(_f64(src), _length(length)), src.index)


def macd(src: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD (Pine ``ta.macd``): macd = EMA(src, fast) − EMA(src, slow); signal = EMA(macd, signal);
    hist = macd − signal. Every EMA seeded with its SMA (the signal with the SMA of the first ``signal``
    MACD values). Warm-up: ``macd`` from index ``max(fast, slow) − 1`` (25 for 12/26/9), ``signal`` and
    ``hist`` from ``max(fast, slow) + signal − 2`` (33). Returns a DataFrame with columns
    ``macd``, ``signal``, ``hist``."""
    rows = _kernels.macd(_f64(src), _length(fast, "fast"), _length(slow, "slow"), _length(signal, "signal"))
    return _frame(rows, src.index, ["macd", "signal", "hist"])


def stoch(
    high: pd.Series, low: pd.Series, close: pd.Series, k: int = 14, smooth_k: int = 3, d: int = 3
) -> pd.DataFrame:
    """Stochastic as TradingView's built-in "Stochastic" indicator.

    raw = 100·(close − lowest(low, k)) / (highest(high, k) − lowest(low, k)) (Pine ``ta.stoch``);
    ``k`` = SMA(raw, smooth_k); ``d`` = SMA(k, d). A zero range (highest high == lowest low, a flat market)
    gives NaN for raw on that bar — Pine's division by zero gives na — and so NaN in every %K / %D window
    that contains it (TA-Lib gives 0 instead). Warm-up: ``k`` from index ``k + smooth_k − 2`` (15 for
    14/3/3), ``d`` from ``k + smooth_k + d − 3`` (17). Returns a DataFrame with columns ``k`` and ``d``."""
    rows = _kernels.stoch(
        _f64(high), _f64(low), _f64(close), _length(k, "k"), _length(smooth_k, "smooth_k"), _length(d, "d")
    )
    return _frame(rows, close.index, ["k", "d"])


# --- Bands and ranges ----------------------------------------------------------------------------


def bollinger(src: pd.Series, length: int = 20, mult: float = 2.0) -> pd.DataFrame:
    """Bollinger Bands (TradingView's "BB"): basis = SMA(src, length); upper / lower = basis ± mult·σ, σ the
    *population* standard deviation of the last ``length`` values (Pine ``ta.stdev``, ddof = 0).
    Warm-up: first value at index ``length − 1``. Returns a DataFrame with columns ``basis``, ``upper``,
    ``lower``."""
    rows = _kernels.bollinger(_f64(src), _length(length), float(mult))
    return _frame(rows, src.index, ["basis", "upper", "lower"])


def highest(src: pd.Series, length: int) -> pd.Series:
    """Highest value of the last ``length`` bars, the current one included (Pine ``ta.highest``).
    Warm-up: first value at index ``length − 1``. Returns a Series."""
    return _series(_kernels.rolling_extreme(_f64(src), _length(length), True), src.index)


def lowest(src: pd.Series, length: int) -> pd.Series:
    """Lowest value of the last ``length`` bars, the current one included (Pine ``ta.lowest``).
    Warm-up: first value at index ``length − 1``. Returns a Series."""
    return _series(_kernels.rolling_extreme(_f64(src), _length(length), False), src.index)


def donchian(high: pd.Series, low: pd.Series, length: int) -> pd.Series:
    """Donchian channel midpoint: (highest(high, length) + lowest(low, length)) / 2 (TA-Lib's MIDPRICE,
    the Ichimoku lines). Warm-up: first value at index ``length − 1``. Returns a Series."""
    return _series(_kernels.donchian(_f64(high), _f64(low), _length(length)), high.index)


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """True range (Pine ``ta.tr(true)``): max(high − low, |high − close[1]|, |low − close[1]|); on the first
    bar (no previous close) high − low. Warm-up: none, first value at index 0. Returns a Series."""
    return _series(_kernels.true_range(_f64(high), _f64(low), _f64(close)), high.index)


def atr(high: pd.Series, low: pd.Series, close: pd.Series, length: int = 14) -> pd.Series:
    """Average true range (Pine ``ta.atr``): RMA(true_range, length), α = 1 / length.

    Seed: the SMA of the first ``length`` true ranges, the first bar's high − low included (TA-Lib's ATR
    skips that bar and starts one bar later; the two converge). Warm-up: first value at index
    ``length − 1``. Returns a Series."""
    return _series(_kernels.atr(_f64(high), _f64(low), _f64(close), _length(length)), high.index)


# --- Trend ---------------------------------------------------------------------------------------


def supertrend(
    high: pd.Series, low: pd.Series, close: pd.Series, factor: float = 3.0, atr_period: int = 10
) -> pd.DataFrame:
    """TradingView's ``ta.supertrend(factor, atrPeriod)``, a port of ``pine_supertrend`` (Pine v5 manual).

    upper = hl2 + factor·ATR, lower = hl2 − factor·ATR (ATR as ``atr`` above). The lower band only rises
    (``lower := lower > lower[1] or close[1] < lower[1] ? lower : lower[1]``) and the upper band only falls
    (mirrored), each reset when the previous close crossed it. direction = +1 on the first bar with an ATR;
    then, if the previous line was the upper band, −1 when close > upper else +1; otherwise +1 when
    close < lower else −1. supertrend = lower when direction == −1, else upper.

    Sign convention (Pine's): direction −1 = up-trend, the line is the lower band *below* the price
    (TradingView paints it green); +1 = down-trend, the line is the upper band above the price.
    Warm-up: first value at index ``atr_period − 1``. A bar with a NaN input is NaN and the next valid
    bar starts over like the first one. Returns a DataFrame with columns ``supertrend`` and ``direction``
    (float: −1.0 / +1.0, NaN in the warm-up)."""
    h, lo, c = _f64(high), _f64(low), _f64(close)
    average_range = _kernels.atr(h, lo, c, _length(atr_period, "atr_period"))
    rows = _kernels.supertrend(h, lo, c, average_range, float(factor))
    return _frame(rows, close.index, ["supertrend", "direction"])


def ichimoku(
    high: pd.Series,
    low: pd.Series,
    close: pd.Series,
    conversion: int = 9,
    base: int = 26,
    span_b: int = 52,
    displacement: int = 26,
) -> pd.DataFrame:
    """Ichimoku Kinko Hyo as TradingView's built-in "Ichimoku Cloud".

    - ``conversion`` (Tenkan-sen) = donchian(conversion), ``base`` (Kijun-sen) = donchian(base).
    - ``span_a`` = (conversion + base) / 2 and ``span_b`` = donchian(span_b): the leading spans as
      computed AT each bar, unshifted.
    - ``cloud_a`` / ``cloud_b``: what TradingView draws at bar t. It plots the leading spans with
      ``offset = displacement − 1`` (25 bars for 26, not 26), so cloud_a[t] = span_a[t − 25]: a FORWARD
      shift that uses past data only, safe for signals ("price above the cloud" = close > both clouds).
    - ``lagging`` (Chikou) = close, NOT shifted. TradingView draws it ``displacement − 1`` bars back;
      shifting it backwards here would put a future close on a past bar (look-ahead). A strategy that
      wants the Chikou confirmation compares close[t] with values ``displacement − 1`` bars ago
      (e.g. ``close > close.shift(25)``) instead.

    Warm-up: conversion from index ``conversion − 1`` (8), base ``base − 1`` (25), span_a
    ``max(conversion, base) − 1`` (25), span_b ``span_b − 1`` (51); cloud_a / cloud_b ``displacement − 1``
    bars later (50 and 76); lagging none. Returns a DataFrame with columns ``conversion``, ``base``,
    ``span_a``, ``span_b``, ``cloud_a``, ``cloud_b``, ``lagging``."""
    h, lo = _f64(high), _f64(low)
    shift = _length(displacement, "displacement") - 1
    n = h.shape[0]
    rows = np.empty((7, n))
    rows[0] = _kernels.donchian(h, lo, _length(conversion, "conversion"))
    rows[1] = _kernels.donchian(h, lo, _length(base, "base"))
    rows[2] = (rows[0] + rows[1]) / 2.0
    rows[3] = _kernels.donchian(h, lo, _length(span_b, "span_b"))
    # cloud[t] = span[t - shift]: a forward shift, past values only.
    rows[4:6, : min(shift, n)] = np.nan
    if shift < n:
        rows[4:6, shift:] = rows[2:4, : n - shift]
    rows[6] = _f64(close)
    columns = ["conversion", "base", "span_a", "span_b", "cloud_a", "cloud_b", "lagging"]
    return _frame(rows, close.index, columns)


# --- Events --------------------------------------------------------------------------------------


def _operand(value: pd.Series | float, like: pd.Series) -> np.ndarray:
    if isinstance(value, pd.Series):
        if len(value) != len(like):
            raise ValueError("crossover/crossunder: both series must have the same length")
        return _f64(value)
    return np.full(len(like), float(value))


def crossover(a: pd.Series, b: pd.Series | float) -> pd.Series:
    """Pine ``ta.crossover``: a[t] > b[t] and a[t − 1] <= b[t − 1]. False on the first bar and wherever one
    of the four values is NaN. ``b`` may be a Series on the same index or a number (a level, e.g.
    ``crossover(rsi, 30)``). Returns a bool Series."""
    x, y = _f64(a), _operand(b, a)
    out = np.zeros(x.shape[0], dtype=bool)
    out[1:] = (x[1:] > y[1:]) & (x[:-1] <= y[:-1])
    return pd.Series(out, index=a.index, copy=False)


def crossunder(a: pd.Series, b: pd.Series | float) -> pd.Series:
    """Pine ``ta.crossunder``: a[t] < b[t] and a[t − 1] >= b[t − 1]. False on the first bar and wherever one
    of the four values is NaN. ``b`` may be a Series on the same index or a number. Returns a bool Series."""
    x, y = _f64(a), _operand(b, a)
    out = np.zeros(x.shape[0], dtype=bool)
    out[1:] = (x[1:] < y[1:]) & (x[:-1] >= y[:-1])
    return pd.Series(out, index=a.index, copy=False)
