"""numba kernels behind ``strategies.indicators`` (pure: plain float64 arrays in and out; no pandas, no Django).

Every kernel is causal (the value at position i reads positions <= i only), so computing on a prefix of
the data gives exactly, bit for bit, the first values of computing on all of it.

NaN conventions, shared by all kernels:

- Windowed kernels (``sma``, ``rolling_max``/``rolling_min``, ``bollinger``, ``stoch``, ``donchian``) give
  NaN while a NaN lies inside the window, and the first value ``length - 1`` positions after the first
  non-NaN input.
- They allocate nothing of the input's size but their outputs: multi-step kernels work inside their
  output rows, with ring buffers of ``length`` values. (On this virtualised host a first touch of fresh
  memory costs ~3 µs per 4 KiB page, i.e. ~6 ms per million float64 values: temporaries are not free.)
- Recursive averages (``seeded_average`` and the kernels built on it) are seeded with the mean of the
  first ``length`` non-NaN inputs, so their first value is at the position of the ``length``-th non-NaN
  input; after the seed a NaN input is skipped (the average holds its previous value), as Pine's
  ``ta.ema``/``ta.rma`` ignore ``na``.

Multi-output kernels return one 2-D array of shape ``(columns, n)``: pandas stores a frame the same way,
so ``DataFrame(out.T, copy=False)`` wraps it without a copy.

``cache=True`` keeps the machine code on disk (next to this file, or in ``NUMBA_CACHE_DIR``), so a new
process loads it instead of compiling. ``warm_up()`` pays that load (or the compile) once, at worker
start, instead of inside a request or task. The indicator functions always hand the kernels read-only,
C-contiguous float64 arrays (what pandas' ``to_numpy`` returns), so exactly one specialisation per
kernel exists, the one ``warm_up`` loads.

Why this file is long: every indicator kernel shares the NaN conventions and the ring-buffer technique
described above; numba compiles them as one cached module."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeAlias

import numba
import numpy as np

if TYPE_CHECKING:  # annotations only (numba ignores them): nothing here exists at run time
    from numpy.typing import NDArray

    # float64 arrays, 1-D (a series) or 2-D (rows of a multi-output kernel).
    Floats: TypeAlias = NDArray[np.float64]

# Pine's ``ta.stdev`` reference treats a deviation this small as 0 (its ``isZero(val, 1e-10)``).
STDEV_EPS = 1e-10
# SMA windows up to this length are summed afresh at every bar; longer ones keep a running sum.
EXACT_SMA_MAX = 8

# error_model="numpy": no Python zero-division checks; fastmath "contract" only: fused multiply-add (a
# shorter dependency chain in the recursions), IEEE NaN semantics kept (the NaN tests rely on them).
_jit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})


@_jit
def _sma_into(src: Floats, length: int, dst: Floats) -> None:
    """``dst[i] = mean(src[i - length + 1 : i + 1])``, NaN while a NaN is in the window; ``dst`` may be
    ``src`` (the window lives in a ring buffer).

    Windows of up to ``EXACT_SMA_MAX`` values are summed afresh at every bar (Pine's reference sums the
    window; an average of values in [0, 100] stays in [0, 100]). Longer windows keep a running sum (as
    TA-Lib) that is summed afresh every ``length`` bars, so rounding never accumulates beyond one window.
    """
    n = src.shape[0]
    ring = np.empty(length)
    at = 0  # where the next value goes; after the write, the oldest value of the window
    total = 0.0
    nans = 0
    since = length  # bars since the total was last summed afresh; >= length forces a fresh sum
    exact = length <= EXACT_SMA_MAX
    for i in range(n):
        value = src[i]
        old = ring[at]
        ring[at] = value
        at = at + 1 if at + 1 < length else 0
        if value != value:
            nans += 1
        if i >= length and old != old:
            nans -= 1
        if i >= length - 1 and nans == 0:
            if exact or since >= length:
                total = 0.0
                j = at
                for _ in range(length):
                    total += ring[j]
                    j = j + 1 if j + 1 < length else 0
                since = 1
            else:
                total += value
                total -= old
                since += 1
            dst[i] = total / length
        else:
            since = length
            dst[i] = np.nan


@_jit
def sma(values: Floats, length: int) -> Floats:
    """Mean of the last ``length`` values (Pine ``ta.sma``); NaN while a NaN is in the window."""
    out = np.empty(values.shape[0])
    _sma_into(values, length, out)
    return out


@_jit
def seeded_average(values: Floats, length: int, alpha: float) -> Floats:
    """EMA-style recursion ``avg = alpha * value + (1 - alpha) * avg[1]``.

    Seed: the mean of the first ``length`` non-NaN values, placed at the position of the ``length``-th
    one (NaN before it). After the seed a NaN value holds the previous average.
    """
    n = values.shape[0]
    out = np.empty(n)
    beta = 1.0 - alpha
    total = 0.0
    count = 0
    avg = np.nan
    for i in range(n):
        value = values[i]
        if count < length:
            if value == value:
                total += value
                count += 1
                if count == length:
                    avg = total / length
        elif value == value:
            avg = alpha * value + beta * avg
        out[i] = avg
    return out


@_jit
def rsi(values: Floats, length: int) -> Floats:
    """Pine ``ta.rsi``: RMA (Wilder, alpha 1/length) of gains and of losses of the bar-to-bar change.

    change[i] = values[i] - values[i-1] (NaN at 0 or next to a NaN); up = max(change, 0), down =
    max(-change, 0), each averaged like ``seeded_average(·, length, 1/length)``. Output: 100 when the
    average loss is 0, 0 when the average gain is 0, else 100 - 100 / (1 + up / down).
    """
    n = values.shape[0]
    out = np.empty(n)
    alpha = 1.0 / length
    beta = 1.0 - alpha
    up_total = 0.0
    down_total = 0.0
    count = 0
    up = np.nan
    down = np.nan
    previous = np.nan
    for i in range(n):
        value = values[i]
        change = value - previous
        previous = value
        if change == change:
            gain = max(change, 0.0)
            loss = max(-change, 0.0)
            if count < length:
                up_total += gain
                down_total += loss
                count += 1
                if count == length:
                    up = up_total / length
                    down = down_total / length
            else:
                up = alpha * gain + beta * up
                down = alpha * loss + beta * down
        if count < length:
            out[i] = np.nan
        elif down == 0.0:
            out[i] = 100.0
        elif up == 0.0:
            out[i] = 0.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + up / down)
    return out


@_jit
def macd(values: Floats, fast: int, slow: int, signal: int) -> Floats:
    """Rows: line = EMA(fast) - EMA(slow), signal = EMA(signal) of the line, hist = line - signal.

    Identical, bit for bit, to composing ``seeded_average`` three times (one pass instead of three).
    """
    n = values.shape[0]
    out = np.empty((3, n))
    a_fast = 2.0 / (fast + 1)
    a_slow = 2.0 / (slow + 1)
    a_sig = 2.0 / (signal + 1)
    b_fast = 1.0 - a_fast
    b_slow = 1.0 - a_slow
    b_sig = 1.0 - a_sig
    t_fast = 0.0
    t_slow = 0.0
    t_sig = 0.0
    c_fast = 0
    c_slow = 0
    c_sig = 0
    e_fast = np.nan
    e_slow = np.nan
    e_sig = np.nan
    for i in range(n):
        value = values[i]
        if value == value:
            if c_fast < fast:
                t_fast += value
                c_fast += 1
                if c_fast == fast:
                    e_fast = t_fast / fast
            else:
                e_fast = a_fast * value + b_fast * e_fast
            if c_slow < slow:
                t_slow += value
                c_slow += 1
                if c_slow == slow:
                    e_slow = t_slow / slow
            else:
                e_slow = a_slow * value + b_slow * e_slow
        line = e_fast - e_slow
        if line == line:
            if c_sig < signal:
                t_sig += line
                c_sig += 1
                if c_sig == signal:
                    e_sig = t_sig / signal
            else:
                e_sig = a_sig * line + b_sig * e_sig
        out[0, i] = line
        out[1, i] = e_sig
        out[2, i] = line - e_sig
    return out


@_jit
def _extreme_into(values: Floats, length: int, is_max: bool, dst: Floats) -> None:
    """Write into ``dst`` the highest (``is_max``) or lowest of the last ``length`` values; NaN while a NaN
    is in the window and for the first ``length - 1`` positions.

    van Herk / Gil-Werman in blocks of ``length``: the window ending at i is the suffix of the previous
    block plus the prefix of the current one, so each value costs three max/min and no branch on the
    data (the data-dependent branches of the usual "rescan when the maximum leaves" method mispredict on
    prices). Memory: one buffer of ``length`` suffix extremes; exact (max/min do not round).
    """
    n = values.shape[0]
    suffix = np.empty(length)
    nans = 0
    for b in range(0, n, length):
        if b > 0:  # the previous block [b - length, b) is complete: its suffix extremes, right to left
            acc = values[b - 1]
            for j in range(b - 1, b - length - 1, -1):
                acc = max(acc, values[j]) if is_max else min(acc, values[j])
                suffix[j - b + length] = acc
        acc = values[b]
        for i in range(b, min(b + length, n)):
            value = values[i]
            acc = max(acc, value) if is_max else min(acc, value)
            if value != value:
                nans += 1
            if i >= length:
                old = values[i - length]
                if old != old:
                    nans -= 1
            k = i - length + 1  # the window is [k, i]
            if k < 0 or nans > 0:
                dst[i] = np.nan
            elif k < b:
                tail = suffix[k - b + length]
                dst[i] = max(tail, acc) if is_max else min(tail, acc)
            else:
                dst[i] = acc


@_jit
def rolling_max(values: Floats, length: int) -> Floats:
    """Highest of the last ``length`` values (Pine ``ta.highest``, TA-Lib ``MAX``)."""
    out = np.empty(values.shape[0])
    _extreme_into(values, length, True, out)
    return out


@_jit
def rolling_min(values: Floats, length: int) -> Floats:
    """Lowest of the last ``length`` values (Pine ``ta.lowest``, TA-Lib ``MIN``)."""
    out = np.empty(values.shape[0])
    _extreme_into(values, length, False, out)
    return out


@_jit
def _donchian_into(high: Floats, low: Floats, length: int, dst: Floats, scratch: Floats) -> None:
    _extreme_into(high, length, True, dst)
    _extreme_into(low, length, False, scratch)
    for i in range(dst.shape[0]):
        dst[i] = (dst[i] + scratch[i]) * 0.5


@_jit
def donchian(high: Floats, low: Floats, length: int) -> Floats:
    """Midpoint of the channel: (highest high + lowest low) / 2 over ``length`` bars (TA-Lib ``MIDPRICE``)."""
    n = high.shape[0]
    out = np.empty(n)
    _donchian_into(high, low, length, out, np.empty(n))
    return out


@_jit
def ichimoku(high: Floats, low: Floats, close: Floats, conversion: int, base: int, span_b: int, offset: int) -> Floats:
    """Rows: conversion, base, span_a, span_b (unshifted), cloud_a, cloud_b (spans ``offset`` bars later,
    NaN before), lagging (= close)."""
    n = close.shape[0]
    out = np.empty((7, n))
    _donchian_into(high, low, conversion, out[0], out[4])
    _donchian_into(high, low, base, out[1], out[4])
    _donchian_into(high, low, span_b, out[3], out[4])
    for i in range(n):
        out[2, i] = (out[0, i] + out[1, i]) * 0.5
        out[6, i] = close[i]
    for i in range(n):
        if i >= offset:
            out[4, i] = out[2, i - offset]
            out[5, i] = out[3, i - offset]
        else:
            out[4, i] = np.nan
            out[5, i] = np.nan
    return out


@_jit
def stoch(high: Floats, low: Floats, close: Floats, length: int, smooth_k: int, smooth_d: int) -> Floats:
    """Rows: k = SMA(raw, smooth_k), d = SMA(k, smooth_d), raw = 100 * (close - LL) / (HH - LL) over
    ``length`` bars; raw is NaN when HH == LL (Pine divides by zero: ``na``). Computed in the output rows
    (no temporaries): HH -> row 0, LL -> row 1, raw -> row 0, k in place in row 0, d -> row 1."""
    n = close.shape[0]
    out = np.empty((2, n))
    _extreme_into(high, length, True, out[0])
    _extreme_into(low, length, False, out[1])
    for i in range(n):
        span = out[0, i] - out[1, i]
        out[0, i] = 100.0 * (close[i] - out[1, i]) / span if span != 0.0 else np.nan
    _sma_into(out[0], smooth_k, out[0])
    _sma_into(out[0], smooth_d, out[1])
    return out


@_jit
def _two_pass(values: Floats, start: int, stop: int, mean: float, eps: float) -> float:
    """Pine's ``pine_stdev`` inner loop: sum of (value - mean)^2, deviations within ``eps`` of 0 taken as 0."""
    total = 0.0
    for j in range(start, stop):
        d = values[j] - mean
        if abs(d) <= eps:
            d = 0.0
        total += d * d
    return total


@_jit
def bollinger(values: Floats, length: int, mult: float) -> Floats:
    """Rows: basis, upper, lower. basis = SMA(length) (``sma``, bit for bit); dev = mult * stdev with Pine's
    ``ta.stdev``: the population standard deviation around the basis, sqrt(sum((x - basis)^2) / length).

    The variance is kept in O(1) a bar with sums of deviations from an anchor K taken from the window and
    renewed (sums recomputed exactly) every ``length`` bars, so the deviations stay small and no rounding
    accumulates: var = S2/L - (S1/L)^2 with S1 = sum(x - K), S2 = sum((x - K)^2), which equals Pine's
    two-pass sum((x - basis)^2) / L to ~1e-13 relative. Where that difference would cancel (var below
    1e-6 of S2/L: a flat or nearly flat window) the window is summed again in two passes exactly as Pine's
    reference, deviations within 1e-10 counted as 0, so a flat window has a width of exactly 0.
    """
    n = values.shape[0]
    out = np.empty((3, n))
    _sma_into(values, length, out[0])
    anchor = 0.0
    s1 = 0.0
    s2 = 0.0
    since = length  # bars since the anchor was set; >= length forces a new one
    for i in range(n):
        m = out[0, i]
        if m == m:
            value = values[i]
            if since >= length:
                anchor = value
                s1 = 0.0
                s2 = 0.0
                for j in range(i - length + 1, i + 1):
                    d = values[j] - anchor
                    s1 += d
                    s2 += d * d
                since = 1
            else:
                d_new = value - anchor
                d_old = values[i - length] - anchor
                s1 += d_new - d_old
                s2 += d_new * d_new - d_old * d_old
                since += 1
            mu = s1 / length
            mean_square = s2 / length
            variance = mean_square - mu * mu
            if variance <= 1e-6 * mean_square:
                variance = _two_pass(values, i - length + 1, i + 1, m, STDEV_EPS) / length
            dev = mult * np.sqrt(variance)
            out[1, i] = m + dev
            out[2, i] = m - dev
        else:
            since = length
            out[1, i] = np.nan
            out[2, i] = np.nan
    return out


@_jit
def true_range(high: Floats, low: Floats, close: Floats) -> Floats:
    """max(high - low, |high - close[1]|, |low - close[1]|); high - low where there is no previous close
    (the first bar, or after a NaN close), as Pine's ``ta.atr`` reference."""
    n = close.shape[0]
    out = np.empty(n)
    previous = np.nan
    for i in range(n):
        h = high[i]
        lo = low[i]
        tr = h - lo
        if previous == previous:
            tr = max(tr, max(abs(h - previous), abs(lo - previous)))
        out[i] = tr
        previous = close[i]
    return out


@_jit
def atr(high: Floats, low: Floats, close: Floats, length: int) -> Floats:
    """RMA(length) of the true range (Pine ``ta.atr``), seeded with the mean of the first ``length`` true
    ranges: ``seeded_average(true_range(...), length, 1 / length)`` bit for bit, in one pass."""
    n = close.shape[0]
    out = np.empty(n)
    alpha = 1.0 / length
    beta = 1.0 - alpha
    total = 0.0
    count = 0
    avg = np.nan
    previous = np.nan
    for i in range(n):
        h = high[i]
        lo = low[i]
        tr = h - lo
        if previous == previous:
            tr = max(tr, max(abs(h - previous), abs(lo - previous)))
        previous = close[i]
        if count < length:
            if tr == tr:
                total += tr
                count += 1
                if count == length:
                    avg = total / length
        elif tr == tr:
            avg = alpha * tr + beta * avg
        out[i] = avg
    return out


@_jit
def supertrend(high: Floats, low: Floats, close: Floats, factor: float, atr_period: int) -> Floats:
    """Rows: supertrend, direction. A port of the Pine v5 manual's ``pine_supertrend(factor, atrPeriod)``
    reference, bar by bar (nz() of a missing previous band is 0; comparisons with na are false)::

        src = hl2, atr = ta.atr(atrPeriod)
        upperBand = src + factor * atr, lowerBand = src - factor * atr
        prevLowerBand = nz(lowerBand[1]), prevUpperBand = nz(upperBand[1])
        lowerBand := lowerBand > prevLowerBand or close[1] < prevLowerBand ? lowerBand : prevLowerBand
        upperBand := upperBand < prevUpperBand or close[1] > prevUpperBand ? upperBand : prevUpperBand
        direction = na(atr[1]) ? 1 : superTrend[1] == prevUpperBand ? (close > upperBand ? -1 : 1)
                                                                   : (close < lowerBand ? 1 : -1)
        superTrend := direction == -1 ? lowerBand : upperBand

    Both outputs are NaN where the ATR is NaN (the warm-up), where Pine's state is still carried along.
    """
    n = close.shape[0]
    atr_values = atr(high, low, close, atr_period)
    out = np.empty((2, n))
    lower_prev = np.nan  # lowerBand[1], upperBand[1] and superTrend[1] as Pine stored them
    upper_prev = np.nan
    line_prev = np.nan
    atr_prev = np.nan
    close_prev = np.nan
    for i in range(n):
        a = atr_values[i]
        src = (high[i] + low[i]) * 0.5
        upper = src + factor * a
        lower = src - factor * a
        pl = lower_prev if lower_prev == lower_prev else 0.0
        pu = upper_prev if upper_prev == upper_prev else 0.0
        if not (lower > pl or close_prev < pl):
            lower = pl
        if not (upper < pu or close_prev > pu):
            upper = pu
        if atr_prev != atr_prev:
            direction = 1.0
        elif line_prev == pu:
            direction = -1.0 if close[i] > upper else 1.0
        else:
            direction = 1.0 if close[i] < lower else -1.0
        line = lower if direction == -1.0 else upper
        if a == a:
            out[0, i] = line
            out[1, i] = direction
        else:
            out[0, i] = np.nan
            out[1, i] = np.nan
        lower_prev = lower
        upper_prev = upper
        line_prev = line
        atr_prev = a
        close_prev = close[i]
    return out


def _readonly(array: np.ndarray) -> np.ndarray:
    view = np.ascontiguousarray(array, dtype=np.float64).view()
    view.flags.writeable = False
    return view


def warm_up() -> float:
    """Load (or compile) every kernel by running it on tiny read-only arrays; returns the seconds it took."""
    started = time.perf_counter()
    close = _readonly(np.array([10.0, 11.0, 10.5, 12.0, 11.5, 12.5, 13.0, 12.0]))
    high = _readonly(np.asarray(close) + 0.5)
    low = _readonly(np.asarray(close) - 0.5)
    sma(close, 3)
    seeded_average(close, 3, 0.5)
    rsi(close, 3)
    macd(close, 2, 3, 2)
    rolling_max(close, 3)
    rolling_min(close, 3)
    donchian(high, low, 3)
    stoch(high, low, close, 3, 2, 2)
    ichimoku(high, low, close, 2, 3, 4, 2)
    bollinger(close, 3, 2.0)
    true_range(high, low, close)
    atr(high, low, close, 3)
    supertrend(high, low, close, 3.0, 3)
    return time.perf_counter() - started
