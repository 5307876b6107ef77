"""Indicator kernels compiled with numba (pure: float64 arrays in, float64 arrays out; no pandas, no Django).

Conventions shared by every kernel (``strategies.indicators`` documents them per indicator):

- Leading NaN shifts the seed: an average is seeded with the SMA of the first ``length`` non-NaN values,
  a window needs ``length`` bars after the last NaN.
- Recursive averages (EMA, RMA, RSI, MACD, ATR) skip an interior NaN bar: the state is not updated and
  the bar repeats the previous value. Windows (SMA, stdev, highest/lowest, Stoch) are NaN while they hold
  a NaN.
- Multi-column results come back as one C-contiguous ``(columns, n)`` array, so that the wrapper can hand
  ``out.T`` to ``pandas.DataFrame`` without a copy.

Flags: ``cache=True`` keeps the machine code on disk, so a new process loads it instead of compiling;
``error_model="numpy"`` drops Python's zero-division checks; ``fastmath={"contract"}`` only allows fused
multiply-add (shorter dependency chains in the recursions) and keeps IEEE NaN semantics, on which the
NaN checks rely. ``warm_up()`` loads everything once at worker start.
"""

from __future__ import annotations

import time

import numba
import numpy as np

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}
NAN = np.nan


@numba.njit(**_JIT)
def seeded_average(values: np.ndarray, length: int, alpha: float) -> np.ndarray:
    """EMA-style average: seeded with the SMA of the first ``length`` non-NaN values (at the bar of the
    ``length``-th one), then ``avg = alpha * value + (1 - alpha) * avg``; a NaN bar repeats ``avg``."""
    n = values.shape[0]
    out = np.empty(n)
    beta = 1.0 - alpha
    total = 0.0
    count = 0
    i = 0
    while i < n and count < length:
        value = values[i]
        if value == value:
            total += value
            count += 1
        out[i] = NAN
        i += 1
    if count < length:
        return out
    average = total / length
    out[i - 1] = average
    j = i
    while j < n:
        # Hot loop without a NaN test on the dependency chain; a NaN bar breaks out and repeats the value.
        while j < n:
            value = values[j]
            if value != value:
                break
            average = alpha * value + beta * average
            out[j] = average
            j += 1
        if j < n:
            out[j] = average
            j += 1
    return out


@numba.njit(**_JIT)
def _rsi_value(up: float, down: float) -> float:
    if down == 0.0:
        return 100.0
    if up == 0.0:
        return 0.0
    return 100.0 - 100.0 / (1.0 + up / down)


@numba.njit(**_JIT)
def rsi(values: np.ndarray, length: int) -> np.ndarray:
    """Pine's ``ta.rsi``: RMA (alpha 1/length, seeded with the SMA of the first ``length`` non-NaN changes)
    of the gains and of the losses of ``values[i] - values[i - 1]``; a NaN change repeats the last RSI."""
    n = values.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    out[0] = NAN
    alpha = 1.0 / length
    beta = 1.0 - alpha
    up = 0.0
    down = 0.0
    count = 0
    i = 1
    while i < n and count < length:
        change = values[i] - values[i - 1]
        if change == change:
            if change > 0.0:
                up += change
            else:
                down -= change
            count += 1
        out[i] = NAN
        i += 1
    if count < length:
        return out
    up /= length
    down /= length
    out[i - 1] = _rsi_value(up, down)
    j = i
    while j < n:
        while j < n:
            change = values[j] - values[j - 1]
            if change != change:
                break
            up = alpha * max(change, 0.0) + beta * up
            down = alpha * max(-change, 0.0) + beta * down
            out[j] = _rsi_value(up, down)
            j += 1
        if j < n:
            out[j] = _rsi_value(up, down)
            j += 1
    return out


@numba.njit(**_JIT)
def macd(values: np.ndarray, fast: int, slow: int, signal: int) -> np.ndarray:
    """Rows: EMA(fast) − EMA(slow), its EMA(signal), and their difference; each EMA seeded with the SMA of
    its first ``length`` non-NaN inputs, in one pass. A NaN input bar repeats the previous values."""
    n = values.shape[0]
    out = np.empty((3, n))
    af = 2.0 / (fast + 1)
    a_s = 2.0 / (slow + 1)
    ag = 2.0 / (signal + 1)
    bf = 1.0 - af
    b_s = 1.0 - a_s
    bg = 1.0 - ag
    longest = max(fast, slow)
    ema_fast = 0.0
    ema_slow = 0.0
    ema_signal = 0.0
    line = NAN
    count = 0
    line_count = 0
    i = 0
    # Warm-up: until the signal line is seeded.
    while i < n and line_count < signal:
        value = values[i]
        if value == value:
            count += 1
            if count <= fast:
                ema_fast += value
                if count == fast:
                    ema_fast /= fast
            else:
                ema_fast = af * value + bf * ema_fast
            if count <= slow:
                ema_slow += value
                if count == slow:
                    ema_slow /= slow
            else:
                ema_slow = a_s * value + b_s * ema_slow
            if count >= longest:
                line = ema_fast - ema_slow
                line_count += 1
                ema_signal += line
                if line_count == signal:
                    ema_signal /= signal
        out[0, i] = line
        if line_count == signal:
            out[1, i] = ema_signal
            out[2, i] = line - ema_signal
        else:
            out[1, i] = NAN
            out[2, i] = NAN
        i += 1
    for j in range(i, n):
        value = values[j]
        if value == value:
            ema_fast = af * value + bf * ema_fast
            ema_slow = a_s * value + b_s * ema_slow
            line = ema_fast - ema_slow
            ema_signal = ag * line + bg * ema_signal
        out[0, j] = line
        out[1, j] = ema_signal
        out[2, j] = line - ema_signal
    return out


@numba.njit(**_JIT)
def rolling_mean(values: np.ndarray, length: int) -> np.ndarray:
    """Mean of the last ``length`` values (running sum, as TA-Lib); NaN while the window holds a NaN."""
    n = values.shape[0]
    out = np.empty(n)
    total = 0.0
    run = 0
    inverse = 1.0 / length
    for i in range(n):
        value = values[i]
        if value != value:
            run = 0
            total = 0.0
            out[i] = NAN
            continue
        total += value
        run += 1
        if run > length:
            total -= values[i - length]
            run = length
        out[i] = total * inverse if run == length else NAN
    return out


@numba.njit(**_JIT)
def bollinger(values: np.ndarray, length: int, mult: float) -> np.ndarray:
    """Rows: mean, mean + mult·σ, mean − mult·σ of the last ``length`` values, σ the population standard
    deviation (ddof 0). Rolling Welford updates (numerically stable, no sum-of-squares cancellation);
    NaN while the window holds a NaN."""
    n = values.shape[0]
    out = np.empty((3, n))
    mean = 0.0
    m2 = 0.0
    run = 0
    inverse = 1.0 / length
    for i in range(n):
        value = values[i]
        if value != value:
            run = 0
            mean = 0.0
            m2 = 0.0
            out[0, i] = NAN
            out[1, i] = NAN
            out[2, i] = NAN
            continue
        if run < length:
            run += 1
            delta = value - mean
            mean += delta / run
            m2 += delta * (value - mean)
        else:
            old = values[i - length]
            delta = value - old
            new_mean = mean + delta * inverse
            m2 += delta * (value - new_mean + old - mean)
            mean = new_mean
        if run == length:
            variance = m2 * inverse
            width = mult * np.sqrt(variance) if variance > 0.0 else 0.0
            out[0, i] = mean
            out[1, i] = mean + width
            out[2, i] = mean - width
        else:
            out[0, i] = NAN
            out[1, i] = NAN
            out[2, i] = NAN
    return out


@numba.njit(**_JIT)
def rolling_extreme(values: np.ndarray, length: int, highest: bool) -> np.ndarray:
    """Highest (or lowest) of the last ``length`` values; NaN while the window holds a NaN.

    Van Herk / Gil-Werman: the series is cut into blocks of ``length``; the window ending at offset r of a
    block is the running extreme of this block up to r combined with the extreme of the previous block
    from r + 1 to its end (computed once per block, from past values only). Branch-free, O(1) per bar."""
    n = values.shape[0]
    out = np.empty(n)
    sign = 1.0 if highest else -1.0
    suffix = np.empty(length + 1)
    last_nan = -1
    for start in range(0, n, length):
        if start > 0:
            best = sign * values[start - 1]
            suffix[length - 1] = best
            for r in range(length - 2, -1, -1):
                value = sign * values[start - length + r]
                best = value if value > best else best
                suffix[r] = best
        prefix = -np.inf
        for i in range(start, min(start + length, n)):
            r = i - start
            value = sign * values[i]
            if value != value:
                last_nan = i
            prefix = value if value > prefix else prefix
            if r == length - 1:
                best = prefix
            else:
                earlier = suffix[r + 1]
                best = earlier if earlier > prefix else prefix
            out[i] = sign * best if i - last_nan >= length else NAN
    return out


@numba.njit(**_JIT)
def donchian(high: np.ndarray, low: np.ndarray, length: int) -> np.ndarray:
    """(highest high + lowest low) / 2 over the last ``length`` bars."""
    return (rolling_extreme(high, length, True) + rolling_extreme(low, length, False)) / 2.0


@numba.njit(**_JIT)
def _true_range(high: float, low: float, previous_close: float) -> float:
    value = high - low
    if previous_close == previous_close:
        a = abs(high - previous_close)
        b = abs(low - previous_close)
        if a > value:
            value = a
        if b > value:
            value = b
    return value


@numba.njit(**_JIT)
def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high − low, |high − close[1]|, |low − close[1]|); high − low where close[1] is missing."""
    n = high.shape[0]
    out = np.empty(n)
    previous_close = NAN
    for i in range(n):
        out[i] = _true_range(high[i], low[i], previous_close)
        previous_close = close[i]
    return out


@numba.njit(**_JIT)
def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, length: int) -> np.ndarray:
    """RMA (alpha 1/length, seeded with the SMA of the first ``length`` non-NaN true ranges) of the true
    range, the first bar's high − low included; a NaN true range repeats the previous ATR."""
    n = high.shape[0]
    out = np.empty(n)
    alpha = 1.0 / length
    beta = 1.0 - alpha
    total = 0.0
    count = 0
    previous_close = NAN
    i = 0
    while i < n and count < length:
        value = _true_range(high[i], low[i], previous_close)
        if value == value:
            total += value
            count += 1
        out[i] = NAN
        previous_close = close[i]
        i += 1
    if count < length:
        return out
    average = total / length
    out[i - 1] = average
    j = i
    while j < n:
        # Hot loop: branch-free true range (equal to the three-way max whenever high >= low); anything
        # unusual (a NaN, high < low) leaves it for the careful path below.
        while j < n:
            h = high[j]
            lo = low[j]
            previous_close = close[j - 1]
            if not (h >= lo and previous_close == previous_close):
                break
            value = max(h, previous_close) - min(lo, previous_close)
            average = alpha * value + beta * average
            out[j] = average
            j += 1
        if j < n:
            value = _true_range(high[j], low[j], close[j - 1])
            if value == value:
                average = alpha * value + beta * average
            out[j] = average
            j += 1
    return out


@numba.njit(**_JIT)
def stoch(high: np.ndarray, low: np.ndarray, close: np.ndarray, k: int, smooth_k: int, d: int) -> np.ndarray:
    """Rows: %K = SMA(raw, smooth_k) and %D = SMA(%K, d), raw = 100·(close − LL(k)) / (HH(k) − LL(k)).

    One pass. HH/LL by blocks of ``k`` as in ``rolling_extreme``. A bar with a NaN high, low or close in
    the ``k`` window, or a zero range (HH == LL), makes raw NaN; each SMA is NaN while its window holds a
    NaN (ring buffers of ``smooth_k`` and ``d`` values)."""
    n = close.shape[0]
    out = np.empty((2, n))
    suffix_high = np.empty(k + 1)
    suffix_low = np.empty(k + 1)
    raw_ring = np.empty(smooth_k)
    k_ring = np.empty(d)
    raw_pos = 0
    k_pos = 0
    raw_sum = 0.0
    raw_run = 0
    k_sum = 0.0
    k_run = 0
    inv_smooth = 1.0 / smooth_k
    inv_d = 1.0 / d
    last_bad = -1
    for start in range(0, n, k):
        if start > 0:
            top = high[start - 1]
            bottom = low[start - 1]
            suffix_high[k - 1] = top
            suffix_low[k - 1] = bottom
            for r in range(k - 2, -1, -1):
                value = high[start - k + r]
                top = value if value > top else top
                suffix_high[r] = top
                value = low[start - k + r]
                bottom = value if value < bottom else bottom
                suffix_low[r] = bottom
        prefix_high = -np.inf
        prefix_low = np.inf
        for i in range(start, min(start + k, n)):
            r = i - start
            h = high[i]
            lo = low[i]
            c = close[i]
            if h != h or lo != lo or c != c:
                last_bad = i
            prefix_high = h if h > prefix_high else prefix_high
            prefix_low = lo if lo < prefix_low else prefix_low
            if r == k - 1:
                hh = prefix_high
                ll = prefix_low
            else:
                top = suffix_high[r + 1]
                hh = top if top > prefix_high else prefix_high
                bottom = suffix_low[r + 1]
                ll = bottom if bottom < prefix_low else prefix_low
            span = hh - ll
            raw = NAN
            if i - last_bad >= k and span > 0.0:
                raw = 100.0 * (c - ll) / span
            # %K = SMA(raw, smooth_k)
            if raw != raw:
                raw_run = 0
                raw_sum = 0.0
                k_value = NAN
            else:
                raw_sum += raw
                raw_run += 1
                if raw_run > smooth_k:
                    raw_sum -= raw_ring[raw_pos]
                    raw_run = smooth_k
                k_value = raw_sum * inv_smooth if raw_run == smooth_k else NAN
            raw_ring[raw_pos] = raw
            raw_pos += 1
            if raw_pos == smooth_k:
                raw_pos = 0
            # %D = SMA(%K, d)
            if k_value != k_value:
                k_run = 0
                k_sum = 0.0
                d_value = NAN
            else:
                k_sum += k_value
                k_run += 1
                if k_run > d:
                    k_sum -= k_ring[k_pos]
                    k_run = d
                d_value = k_sum * inv_d if k_run == d else NAN
            k_ring[k_pos] = k_value
            k_pos += 1
            if k_pos == d:
                k_pos = 0
            out[0, i] = k_value
            out[1, i] = d_value
    return out


@numba.njit(**_JIT)
def supertrend(high: np.ndarray, low: np.ndarray, close: np.ndarray, atr: np.ndarray, factor: float) -> np.ndarray:
    """Rows: line and direction of Pine's ``pine_supertrend`` reference, bar by bar.

    upper/lower = hl2 ± factor·atr; ``lower := lower > nz(lower[1]) or close[1] < nz(lower[1]) ? lower :
    nz(lower[1])`` (upper mirrored); direction = 1 on the first bar with an ATR, else if the previous line
    was the upper band: close > upper ? -1 : 1, else close < lower ? 1 : -1; line = direction == -1 ?
    lower : upper. A bar with a NaN input is NaN and the next valid bar starts over like the first one."""
    n = close.shape[0]
    out = np.empty((2, n))
    prev_upper = NAN
    prev_lower = NAN
    prev_line = NAN
    prev_atr = NAN
    for i in range(n):
        a = atr[i]
        h = high[i]
        lo = low[i]
        c = close[i]
        if a != a or h != h or lo != lo or c != c:
            out[0, i] = NAN
            out[1, i] = NAN
            prev_upper = NAN
            prev_lower = NAN
            prev_line = NAN
            prev_atr = NAN
            continue
        hl2 = (h + lo) / 2.0
        upper = hl2 + factor * a
        lower = hl2 - factor * a
        pl = 0.0 if prev_lower != prev_lower else prev_lower
        pu = 0.0 if prev_upper != prev_upper else prev_upper
        prev_close = close[i - 1] if i > 0 else NAN
        if not (lower > pl or prev_close < pl):
            lower = pl
        if not (upper < pu or prev_close > pu):
            upper = pu
        if prev_atr != prev_atr:
            direction = 1.0
        elif prev_line == pu:
            direction = -1.0 if c > upper else 1.0
        else:
            direction = 1.0 if c < lower else -1.0
        line = lower if direction == -1.0 else upper
        out[0, i] = line
        out[1, i] = direction
        prev_upper = upper
        prev_lower = lower
        prev_line = line
        prev_atr = a
    return out


def warm_up() -> float:
    """Compile (or load from the on-disk cache) every kernel; returns the seconds it took."""
    started = time.perf_counter()
    values = np.linspace(1.0, 2.0, 32)
    seeded_average(values, 5, 0.5)
    rsi(values, 5)
    macd(values, 3, 6, 2)
    rolling_mean(values, 5)
    bollinger(values, 5, 2.0)
    rolling_extreme(values, 5, True)
    donchian(values, values, 5)
    true_range(values, values, values)
    average = atr(values, values, values, 5)
    stoch(values, values, values, 5, 2, 2)
    supertrend(values, values, values, average, 3.0)
    return time.perf_counter() - started
