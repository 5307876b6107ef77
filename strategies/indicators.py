"""Technical indicators as TradingView's Pine built-ins define them (pure: numpy, pandas, numba; no Django).

Every function takes pandas Series and returns a Series or DataFrame on the same index, float64, NaN
during the warm-up. Recursive averages (EMA, RMA and what is built on them) are seeded with the SMA of
their first ``length`` values — as Pine's documented ``pine_ema``/``pine_rma`` and TA-Lib do — so the
first value sits at index ``length - 1`` of the valid input. The recursive loops run in numba
(``strategies._kernels``); rolling windows use pandas' C implementation.

No function looks ahead: the value at bar t depends on bars up to and including t only. The Ichimoku
cloud is shifted *forward* (to where TradingView draws it), never backward.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies import _kernels


def _seeded(src: pd.Series, length: int, alpha: float) -> pd.Series:
    if length < 1:
        raise ValueError("length must be at least 1")
    values = _kernels.seeded_average(src.to_numpy(dtype="float64"), int(length), float(alpha))
    return pd.Series(values, index=src.index)


def _f64(src: pd.Series) -> np.ndarray:
    return src.to_numpy(dtype="float64")


def sma(src: pd.Series, length: int) -> pd.Series:
    """Simple moving average: mean of the last ``length`` values (NaN while the window holds a NaN).
    First value at index ``length - 1``."""
    return pd.Series(_kernels.rolling_mean(_f64(src), int(length)), index=src.index)


def ema(src: pd.Series, length: int) -> pd.Series:
    """Exponential moving average, alpha = 2 / (length + 1).

    Seed: the SMA of the first ``length`` values (TA-Lib's and Pine's ``pine_ema``), so the first value
    is at index ``length - 1`` after any leading NaN; then ema = alpha·src + (1 − alpha)·ema[1].
    """
    return _seeded(src, length, 2.0 / (length + 1))


def rma(src: pd.Series, length: int) -> pd.Series:
    """Wilder's moving average (Pine ``ta.rma``), alpha = 1 / length, seeded with the SMA of the first
    ``length`` values. First value at index ``length - 1`` after any leading NaN."""
    return _seeded(src, length, 1.0 / length)


def rsi(src: pd.Series, length: int = 14) -> pd.Series:
    """Relative strength index (Pine ``ta.rsi``): RMA of gains over RMA of losses of ``src.diff()``.

    100 when the average loss is 0, 0 when the average gain is 0, else 100 − 100 / (1 + gain/loss).
    Warm-up: first value at index ``length`` (the first change is at index 1).
    """
    return pd.Series(_kernels.rsi(_f64(src), int(length)), index=src.index)


def macd(src: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD (Pine ``ta.macd``): line = EMA(fast) − EMA(slow), signal = EMA(signal) of the line,
    hist = line − signal. The line starts at index ``slow - 1``, the signal at ``slow + signal - 2``.
    Returns columns ``macd``, ``signal``, ``hist``."""
    line, signal_line, hist = _kernels.macd(_f64(src), int(fast), int(slow), int(signal))
    return pd.DataFrame({"macd": line, "signal": signal_line, "hist": hist}, index=src.index)


def highest(src: pd.Series, length: int) -> pd.Series:
    """Highest value of the last ``length`` bars (Pine ``ta.highest``). First at index ``length - 1``."""
    return pd.Series(_kernels.rolling_extreme(_f64(src), int(length), True), index=src.index)


def lowest(src: pd.Series, length: int) -> pd.Series:
    """Lowest value of the last ``length`` bars (Pine ``ta.lowest``). First at index ``length - 1``."""
    return pd.Series(_kernels.rolling_extreme(_f64(src), int(length), False), index=src.index)


def donchian(high: pd.Series, low: pd.Series, length: int) -> pd.Series:
    """Midpoint of the Donchian channel: (highest high + lowest low) / 2 over ``length`` bars."""
    return (highest(high, length) + lowest(low, length)) / 2


def stoch(
    high: pd.Series, low: pd.Series, close: pd.Series, k: int = 14, smooth_k: int = 3, d: int = 3
) -> pd.DataFrame:
    """Stochastic oscillator as TradingView's built-in "Stoch":
    raw = 100·(close − lowest low(k)) / (highest high(k) − lowest low(k)) (Pine ``ta.stoch``),
    ``k`` = SMA(raw, smooth_k), ``d`` = SMA(k, d). A zero range gives NaN for that bar (Pine divides by
    zero to na), which then also blanks the SMAs that include it. %K starts at index
    ``k + smooth_k - 2``, %D at ``k + smooth_k + d - 3``. Returns columns ``k`` and ``d``."""
    k_line, d_line = _kernels.stoch(_f64(high), _f64(low), _f64(close), int(k), int(smooth_k), int(d))
    return pd.DataFrame({"k": k_line, "d": d_line}, index=close.index)


def bollinger(src: pd.Series, length: int = 20, mult: float = 2.0) -> pd.DataFrame:
    """Bollinger Bands: basis = SMA(length); upper/lower = basis ± mult × the *population* standard
    deviation of the last ``length`` values (Pine ``ta.stdev``, ddof = 0). First at index ``length - 1``.
    Returns columns ``basis``, ``upper``, ``lower``."""
    basis, upper, lower = _kernels.bollinger(_f64(src), int(length), float(mult))
    return pd.DataFrame({"basis": basis, "upper": upper, "lower": lower}, index=src.index)


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """True range (Pine ``ta.tr(true)``): max(high − low, |high − close[1]|, |low − close[1]|); on the
    first bar, where there is no previous close, high − low."""
    return pd.Series(_kernels.true_range(_f64(high), _f64(low), _f64(close)), index=high.index)


def atr(high: pd.Series, low: pd.Series, close: pd.Series, length: int = 14) -> pd.Series:
    """Average true range (Pine ``ta.atr``): RMA of the true range, the first bar's range included.
    First value at index ``length - 1``. (TA-Lib's ATR skips the first bar; the two converge.)"""
    return pd.Series(_kernels.atr(_f64(high), _f64(low), _f64(close), int(length)), index=high.index)


def supertrend(
    high: pd.Series, low: pd.Series, close: pd.Series, factor: float = 3.0, atr_period: int = 10
) -> pd.DataFrame:
    """TradingView's ``ta.supertrend(factor, atrPeriod)``, ported from Pine's ``pine_supertrend``.

    Bands: hl2 ± factor × ATR(atr_period); the lower band only rises and the upper band only falls
    while the previous close stays on their side. ``direction`` is −1 in an up-trend (the line is the
    lower band, below the price) and +1 in a down-trend, as in Pine; it is +1 on the first bar with an
    ATR. Warm-up: NaN until the ATR exists (index ``atr_period - 1``).
    Returns columns ``supertrend`` and ``direction``.
    """
    average_range = atr(high, low, close, atr_period).to_numpy()
    hl2 = ((high + low) / 2).to_numpy(dtype="float64")
    line, direction = _kernels.supertrend(hl2, close.to_numpy(dtype="float64"), average_range, float(factor))
    return pd.DataFrame({"supertrend": line, "direction": direction}, index=close.index)


def ichimoku(
    high: pd.Series,
    low: pd.Series,
    close: pd.Series,
    conversion: int = 9,
    base: int = 26,
    span_b: int = 52,
    displacement: int = 26,
) -> pd.DataFrame:
    """Ichimoku Kinko Hyo as TradingView's built-in.

    - ``conversion`` (Tenkan) and ``base`` (Kijun): Donchian midpoints over their periods.
    - ``span_a`` = (conversion + base) / 2 and ``span_b`` = Donchian midpoint over ``span_b``, both as
      computed AT each bar (unshifted).
    - ``cloud_a`` / ``cloud_b``: the spans TradingView draws at each bar. TradingView plots the leading
      spans with an offset of ``displacement − 1`` (25 bars, not 26), so the cloud at bar t is the spans
      of bar t − 25: a forward shift that uses past data only, safe for signals.
    - ``lagging``: the close. TradingView draws it ``displacement − 1`` bars back; shifting it backwards
      into this frame would put future closes at past bars, so it is not shifted — a strategy compares
      close[t] with values ``displacement − 1`` bars earlier instead.
    Warm-up: conversion from index ``conversion − 1``, base ``base − 1``, span_b ``span_b − 1``;
    the clouds ``displacement − 1`` bars later.
    """
    conversion_line = donchian(high, low, conversion)
    base_line = donchian(high, low, base)
    span_a = (conversion_line + base_line) / 2
    span_b_line = donchian(high, low, span_b)
    return pd.DataFrame(
        {
            "conversion": conversion_line,
            "base": base_line,
            "span_a": span_a,
            "span_b": span_b_line,
            "cloud_a": span_a.shift(displacement - 1),
            "cloud_b": span_b_line.shift(displacement - 1),
            "lagging": close.astype("float64"),
        }
    )


def _as_series(value: pd.Series | float, like: pd.Series) -> pd.Series:
    return value if isinstance(value, pd.Series) else pd.Series(float(value), index=like.index)


def crossover(a: pd.Series, b: pd.Series | float) -> pd.Series:
    """Pine ``ta.crossover``: a[t] > b[t] and a[t−1] <= b[t−1]; False where a value is NaN.
    ``b`` may be a Series or a number (a level such as an RSI threshold)."""
    b = _as_series(b, a)
    return ((a > b) & (a.shift(1) <= b.shift(1))).astype(bool)


def crossunder(a: pd.Series, b: pd.Series | float) -> pd.Series:
    """Pine ``ta.crossunder``: a[t] < b[t] and a[t−1] >= b[t−1]; False where a value is NaN."""
    b = _as_series(b, a)
    return ((a < b) & (a.shift(1) >= b.shift(1))).astype(bool)
