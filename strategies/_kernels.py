"""Recursive indicator kernels compiled with numba (pure; float64 arrays in and out).

``cache=True`` keeps the machine code on disk, so a new process loads it in a fraction of a second;
``warm_up()`` pays that once at worker start instead of inside a request or task.
"""

from __future__ import annotations

import time

import numba
import numpy as np


@numba.njit(cache=True)
def seeded_average(values: np.ndarray, length: int, alpha: float) -> np.ndarray:
    """EMA-style average seeded with the SMA of the first ``length`` values after leading NaN.

    out[start + length - 1] = mean(values[start : start + length]); then
    out[i] = alpha * values[i] + (1 - alpha) * out[i - 1] (a NaN value holds the previous average).
    """
    n = values.shape[0]
    out = np.full(n, np.nan)
    start = 0
    while start < n and np.isnan(values[start]):
        start += 1
    end = start + length - 1
    if end >= n:
        return out
    total = 0.0
    for i in range(start, end + 1):
        total += values[i]
    previous = total / length
    out[end] = previous
    for i in range(end + 1, n):
        value = values[i]
        if not np.isnan(value):
            previous = alpha * value + (1.0 - alpha) * previous
        out[i] = previous
    return out


@numba.njit(cache=True)
def supertrend(
    hl2: np.ndarray, close: np.ndarray, atr: np.ndarray, factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pine's ``pine_supertrend`` reference, bar by bar (direction -1 = up-trend, +1 = down-trend)."""
    n = close.shape[0]
    line = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    prev_upper = np.nan
    prev_lower = np.nan
    prev_line = np.nan
    for i in range(n):
        if np.isnan(atr[i]):
            continue
        upper = hl2[i] + factor * atr[i]
        lower = hl2[i] - factor * atr[i]
        # nz(band[1]) is 0 on the first bar with an ATR, which keeps the fresh bands.
        pl = 0.0 if np.isnan(prev_lower) else prev_lower
        pu = 0.0 if np.isnan(prev_upper) else prev_upper
        prev_close = close[i - 1] if i > 0 else np.nan
        if not (lower > pl or prev_close < pl):
            lower = pl
        if not (upper < pu or prev_close > pu):
            upper = pu
        if i == 0 or np.isnan(atr[i - 1]):
            d = 1.0
        elif prev_line == pu:
            d = -1.0 if close[i] > upper else 1.0
        else:
            d = 1.0 if close[i] < lower else -1.0
        value = lower if d == -1.0 else upper
        line[i] = value
        direction[i] = d
        prev_upper = upper
        prev_lower = lower
        prev_line = value
    return line, direction


@numba.njit(cache=True)
def rolling_mean(values: np.ndarray, length: int) -> np.ndarray:
    """Mean of the last ``length`` values (running sum, as TA-Lib); NaN while a NaN is in the window."""
    n = values.shape[0]
    out = np.full(n, np.nan)
    total = 0.0
    nans = 0
    for i in range(n):
        value = values[i]
        if np.isnan(value):
            nans += 1
        else:
            total += value
        if i >= length:
            old = values[i - length]
            if np.isnan(old):
                nans -= 1
            else:
                total -= old
        if i >= length - 1 and nans == 0:
            out[i] = total / length
    return out


@numba.njit(cache=True)
def rolling_mean_std(values: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation of the last ``length`` values (running sums, as TA-Lib)."""
    n = values.shape[0]
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    total = 0.0
    squares = 0.0
    for i in range(n):
        value = values[i]
        total += value
        squares += value * value
        if i >= length:
            old = values[i - length]
            total -= old
            squares -= old * old
        if i >= length - 1:
            m = total / length
            variance = squares / length - m * m
            mean[i] = m
            std[i] = np.sqrt(variance) if variance > 0.0 else 0.0
    return mean, std


@numba.njit(cache=True)
def rolling_extreme(values: np.ndarray, length: int, highest: bool) -> np.ndarray:
    """Highest (or lowest) of the last ``length`` values in O(n) with a monotonic queue."""
    n = values.shape[0]
    out = np.full(n, np.nan)
    queue = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    for i in range(n):
        value = values[i]
        while tail > head and (values[queue[tail - 1]] <= value if highest else values[queue[tail - 1]] >= value):
            tail -= 1
        queue[tail] = i
        tail += 1
        if queue[head] <= i - length:
            head += 1
        if i >= length - 1:
            out[i] = values[queue[head]]
    return out


@numba.njit(cache=True)
def rsi(values: np.ndarray, length: int) -> np.ndarray:
    """Pine's ta.rsi in one pass: RMA (seeded with the SMA) of gains and losses of the changes."""
    n = values.shape[0]
    out = np.full(n, np.nan)
    if n <= length:
        return out
    up = 0.0
    down = 0.0
    for i in range(1, length + 1):
        change = values[i] - values[i - 1]
        if change > 0:
            up += change
        else:
            down -= change
    up /= length
    down /= length
    alpha = 1.0 / length
    for i in range(length, n):
        if i > length:
            change = values[i] - values[i - 1]
            gain = change if change > 0 else 0.0
            loss = -change if change < 0 else 0.0
            up = alpha * gain + (1.0 - alpha) * up
            down = alpha * loss + (1.0 - alpha) * down
        if down == 0.0:
            out[i] = 100.0
        elif up == 0.0:
            out[i] = 0.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + up / down)
    return out


@numba.njit(cache=True)
def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    n = high.shape[0]
    out = np.empty(n)
    for i in range(n):
        value = high[i] - low[i]
        if i > 0:
            value = max(value, abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        out[i] = value
    return out


@numba.njit(cache=True)
def macd(values: np.ndarray, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EMA(fast) − EMA(slow) and its EMA(signal), each seeded with its SMA, in one pass (no leading NaN)."""
    n = values.shape[0]
    line = np.full(n, np.nan)
    signal_line = np.full(n, np.nan)
    hist = np.full(n, np.nan)
    a_fast = 2.0 / (fast + 1)
    a_slow = 2.0 / (slow + 1)
    a_signal = 2.0 / (signal + 1)
    ema_fast = 0.0
    ema_slow = 0.0
    seed = 0.0
    ema_signal = 0.0
    for i in range(n):
        value = values[i]
        if i < fast:
            ema_fast += value / fast
        else:
            ema_fast = a_fast * value + (1.0 - a_fast) * ema_fast
        if i < slow:
            ema_slow += value / slow
        else:
            ema_slow = a_slow * value + (1.0 - a_slow) * ema_slow
        if i >= slow - 1:
            current = ema_fast - ema_slow
            line[i] = current
            j = i - (slow - 1)
            if j < signal:
                seed += current
                if j == signal - 1:
                    ema_signal = seed / signal
                    signal_line[i] = ema_signal
                    hist[i] = current - ema_signal
            else:
                ema_signal = a_signal * current + (1.0 - a_signal) * ema_signal
                signal_line[i] = ema_signal
                hist[i] = current - ema_signal
    return line, signal_line, hist


@numba.njit(cache=True)
def stoch(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, k: int, smooth_k: int, d: int
) -> tuple[np.ndarray, np.ndarray]:
    """Raw %K over ``k`` bars (NaN on a zero range), smoothed by SMA(smooth_k), %D = SMA(d), one pass.

    The window's highest and lowest are tracked by index and rescanned only when they leave the
    window (TA-Lib's approach)."""
    n = close.shape[0]
    k_out = np.full(n, np.nan)
    d_out = np.full(n, np.nan)
    raw = np.full(n, np.nan)
    k_line = np.full(n, np.nan)
    hi_idx = -1
    lo_idx = -1
    k_sum = 0.0
    k_nans = 0
    d_sum = 0.0
    d_nans = 0
    for i in range(n):
        start = i - k + 1
        if hi_idx < start or hi_idx < 0:
            hi_idx = max(start, 0)
            for j in range(hi_idx + 1, i + 1):
                if high[j] >= high[hi_idx]:
                    hi_idx = j
        elif high[i] >= high[hi_idx]:
            hi_idx = i
        if lo_idx < start or lo_idx < 0:
            lo_idx = max(start, 0)
            for j in range(lo_idx + 1, i + 1):
                if low[j] <= low[lo_idx]:
                    lo_idx = j
        elif low[i] <= low[lo_idx]:
            lo_idx = i
        if start >= 0:
            span = high[hi_idx] - low[lo_idx]
            if span > 0.0:
                raw[i] = 100.0 * (close[i] - low[lo_idx]) / span
        # %K: SMA of raw over smooth_k (NaN while a NaN is in the window).
        value = raw[i]
        if np.isnan(value):
            k_nans += 1
        else:
            k_sum += value
        if i >= smooth_k:
            old = raw[i - smooth_k]
            if np.isnan(old):
                k_nans -= 1
            else:
                k_sum -= old
        if i >= smooth_k - 1 and k_nans == 0:
            k_line[i] = k_sum / smooth_k
            k_out[i] = k_line[i]
        # %D: SMA of %K over d.
        value = k_line[i]
        if np.isnan(value):
            d_nans += 1
        else:
            d_sum += value
        if i >= d:
            old = k_line[i - d]
            if np.isnan(old):
                d_nans -= 1
            else:
                d_sum -= old
        if i >= d - 1 and d_nans == 0:
            d_out[i] = d_sum / d
    return k_out, d_out


@numba.njit(cache=True)
def bollinger(values: np.ndarray, length: int, mult: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, std = rolling_mean_std(values, length)
    return mean, mean + mult * std, mean - mult * std


@numba.njit(cache=True)
def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, length: int) -> np.ndarray:
    """RMA (seeded with the SMA) of the true range, the first bar's high − low included, one pass."""
    n = high.shape[0]
    out = np.full(n, np.nan)
    alpha = 1.0 / length
    average = 0.0
    for i in range(n):
        value = high[i] - low[i]
        if i > 0:
            value = max(value, abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        if i < length:
            average += value / length
            if i == length - 1:
                out[i] = average
        else:
            average = alpha * value + (1.0 - alpha) * average
            out[i] = average
    return out


def warm_up() -> float:
    """Compile (or load from the on-disk cache) every kernel; returns the seconds it took."""
    started = time.perf_counter()
    values = np.linspace(1.0, 2.0, 32)
    seeded_average(values, 5, 0.5)
    supertrend(values, values, values * 0.01, 3.0)
    rolling_mean(values, 5)
    rolling_mean_std(values, 5)
    rolling_extreme(values, 5, True)
    rsi(values, 5)
    true_range(values, values, values)
    macd(values, 3, 6, 2)
    stoch(values, values, values, 5, 2, 2)
    bollinger(values, 5, 2.0)
    atr(values, values, values, 5)
    return time.perf_counter() - started
