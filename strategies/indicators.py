"""Technical indicators as TradingView defines them (pure: numpy, pandas, numba; no Django).

Series in, Series/DataFrame out on the same index; NaN during warm-up. Provisional implementation
(pandas), replaced by the numba-backed one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _seeded(src: pd.Series, length: int, alpha: float) -> pd.Series:
    values = src.to_numpy(dtype="float64")
    out = np.full(len(values), np.nan)
    valid = np.flatnonzero(~np.isnan(values))
    if len(valid) < length:
        return pd.Series(out, index=src.index)
    start = valid[0]
    seed_end = start + length - 1
    out[seed_end] = values[start : seed_end + 1].mean()
    prev = out[seed_end]
    for i in range(seed_end + 1, len(values)):
        v = values[i]
        prev = prev if np.isnan(v) else alpha * v + (1 - alpha) * prev
        out[i] = prev
    return pd.Series(out, index=src.index)


def sma(src: pd.Series, length: int) -> pd.Series:
    return src.rolling(length).mean()


def ema(src: pd.Series, length: int) -> pd.Series:
    return _seeded(src, length, 2.0 / (length + 1))


def rma(src: pd.Series, length: int) -> pd.Series:
    return _seeded(src, length, 1.0 / length)


def rsi(src: pd.Series, length: int = 14) -> pd.Series:
    change = src.diff()
    up = rma(change.clip(lower=0), length)
    down = rma((-change).clip(lower=0), length)
    value = 100 - 100 / (1 + up / down)
    value = value.where(down != 0, 100.0).where(up != 0, 0.0).where(~(up.isna() | down.isna()))
    return value


def macd(src: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    line = ema(src, fast) - ema(src, slow)
    sig = ema(line, signal)
    return pd.DataFrame({"macd": line, "signal": sig, "hist": line - sig})


def highest(src: pd.Series, length: int) -> pd.Series:
    return src.rolling(length).max()


def lowest(src: pd.Series, length: int) -> pd.Series:
    return src.rolling(length).min()


def donchian(high: pd.Series, low: pd.Series, length: int) -> pd.Series:
    return (highest(high, length) + lowest(low, length)) / 2


def stoch(
    high: pd.Series, low: pd.Series, close: pd.Series, k: int = 14, smooth_k: int = 3, d: int = 3
) -> pd.DataFrame:
    hh, ll = highest(high, k), lowest(low, k)
    raw = 100 * (close - ll) / (hh - ll)
    k_line = sma(raw, smooth_k)
    return pd.DataFrame({"k": k_line, "d": sma(k_line, d)})


def bollinger(src: pd.Series, length: int = 20, mult: float = 2.0) -> pd.DataFrame:
    basis = sma(src, length)
    dev = mult * src.rolling(length).std(ddof=0)
    return pd.DataFrame({"basis": basis, "upper": basis + dev, "lower": basis - dev})


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    prev = close.shift(1)
    tr = pd.concat([high - low, (high - prev).abs(), (low - prev).abs()], axis=1).max(axis=1)
    tr.iloc[0] = high.iloc[0] - low.iloc[0]
    return tr


def atr(high: pd.Series, low: pd.Series, close: pd.Series, length: int = 14) -> pd.Series:
    return rma(true_range(high, low, close), length)


def supertrend(
    high: pd.Series, low: pd.Series, close: pd.Series, factor: float = 3.0, atr_period: int = 10
) -> pd.DataFrame:
    a = atr(high, low, close, atr_period).to_numpy()
    hl2 = ((high + low) / 2).to_numpy()
    c = close.to_numpy()
    n = len(c)
    line = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    upper_prev = lower_prev = st_prev = np.nan
    for i in range(n):
        if np.isnan(a[i]):
            continue
        upper = hl2[i] + factor * a[i]
        lower = hl2[i] - factor * a[i]
        prev_close = c[i - 1] if i > 0 else np.nan
        if not np.isnan(lower_prev) and not (lower > lower_prev or prev_close < lower_prev):
            lower = lower_prev
        if not np.isnan(upper_prev) and not (upper < upper_prev or prev_close > upper_prev):
            upper = upper_prev
        if np.isnan(st_prev):
            d = 1.0
        elif st_prev == upper_prev:
            d = -1.0 if c[i] > upper else 1.0
        else:
            d = 1.0 if c[i] < lower else -1.0
        st = lower if d == -1.0 else upper
        line[i], direction[i] = st, d
        upper_prev, lower_prev, st_prev = upper, lower, st
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
    conv = donchian(high, low, conversion)
    base_line = donchian(high, low, base)
    span_a = (conv + base_line) / 2
    span_b_line = donchian(high, low, span_b)
    return pd.DataFrame(
        {
            "conversion": conv,
            "base": base_line,
            "span_a": span_a,
            "span_b": span_b_line,
            "cloud_a": span_a.shift(displacement - 1),
            "cloud_b": span_b_line.shift(displacement - 1),
            "lagging": close,
        }
    )


def _as_series(value: pd.Series | float, like: pd.Series) -> pd.Series:
    return value if isinstance(value, pd.Series) else pd.Series(float(value), index=like.index)


def crossover(a: pd.Series, b: pd.Series | float) -> pd.Series:
    b = _as_series(b, a)
    return ((a > b) & (a.shift(1) <= b.shift(1))).fillna(False).astype(bool)


def crossunder(a: pd.Series, b: pd.Series | float) -> pd.Series:
    b = _as_series(b, a)
    return ((a < b) & (a.shift(1) >= b.shift(1))).fillna(False).astype(bool)
