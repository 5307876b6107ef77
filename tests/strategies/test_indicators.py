"""Indicators against TA-Lib (an independent C implementation) on the real candles, and against
plain-Python ports of Pine's reference code where TA-Lib has no such indicator."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from strategies import indicators as ta

OHLCV = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv"
FILES = [
    "binance_BTCUSDT_1h.csv.gz",
    "binance_ETHUSDT_1h.csv.gz",
    "binance_SOLUSDT_5m.csv.gz",
    "binance_BTCUSDT_1d.csv.gz",
]
RTOL = 1e-6
# Recursive averages seeded differently (TA-Lib's MACD and ATR) converge geometrically; compare after this.
CONVERGED = 400


@pytest.fixture(scope="module", params=FILES)
def candles(request) -> pd.DataFrame:
    return pd.read_csv(OHLCV / request.param, parse_dates=["timestamp"], index_col="timestamp")


def first_valid(series) -> int:
    values = np.asarray(series, dtype="float64")
    return int(np.flatnonzero(~np.isnan(values))[0])


def same(ours, theirs, start: int = 0) -> None:
    ours, theirs = np.asarray(ours, dtype="float64"), np.asarray(theirs, dtype="float64")
    np.testing.assert_allclose(ours[start:], theirs[start:], rtol=RTOL, atol=1e-9)


@pytest.mark.parametrize("length", [5, 20, 200])
def test_sma_ema(candles, length):
    close = candles["close"]
    same(ta.sma(close, length), talib.SMA(close, length))
    same(ta.ema(close, length), talib.EMA(close, length))
    assert first_valid(ta.ema(close, length)) == length - 1 == first_valid(talib.EMA(close, length))


@pytest.mark.parametrize("length", [2, 14, 30])
def test_rsi(candles, length):
    close = candles["close"]
    ours = ta.rsi(close, length)
    same(ours, talib.RSI(close, length))
    assert first_valid(ours) == length


def test_rma_is_wilder(candles):
    close = candles["close"]
    ours = ta.rma(close, 14).to_numpy()
    manual = np.full(len(close), np.nan)
    manual[13] = close.iloc[:14].mean()
    for i in range(14, len(close)):
        manual[i] = (close.iloc[i] + 13 * manual[i - 1]) / 14
    same(ours, manual)


def test_macd(candles):
    close = candles["close"]
    ours = ta.macd(close, 12, 26, 9)
    line, signal, hist = talib.MACD(close, 12, 26, 9)
    same(ours["macd"], line, start=CONVERGED)
    same(ours["signal"], signal, start=CONVERGED)
    same(ours["hist"], hist, start=CONVERGED)
    assert first_valid(ours["macd"]) == 25 and first_valid(ours["signal"]) == 33


def test_stoch(candles):
    high, low, close = candles["high"], candles["low"], candles["close"]
    ours = ta.stoch(high, low, close, 14, 3, 3)
    k, d = talib.STOCH(
        high, low, close, fastk_period=14, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0
    )
    # TA-Lib treats a zero range as 0; Pine as na. Compare where neither window holds a flat range.
    ok = ~np.isnan(ours["d"].to_numpy())
    np.testing.assert_allclose(ours["k"].to_numpy()[ok], np.asarray(k)[ok], rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(ours["d"].to_numpy()[ok], np.asarray(d)[ok], rtol=RTOL, atol=1e-9)
    assert first_valid(ours["k"]) == 15 and first_valid(ours["d"]) == 17
    assert ok.sum() > len(close) - 40


@pytest.mark.parametrize("mult", [2.0, 2.5])
def test_bollinger(candles, mult):
    close = candles["close"]
    ours = ta.bollinger(close, 20, mult)
    upper, middle, lower = talib.BBANDS(close, 20, mult, mult, 0)
    same(ours["basis"], middle)
    same(ours["upper"], upper)
    same(ours["lower"], lower)


def test_true_range_and_atr(candles):
    high, low, close = candles["high"], candles["low"], candles["close"]
    tr = ta.true_range(high, low, close)
    same(tr.iloc[1:], talib.TRANGE(high, low, close)[1:])
    assert tr.iloc[0] == high.iloc[0] - low.iloc[0]
    ours = ta.atr(high, low, close, 14)
    same(ours, talib.ATR(high, low, close, 14), start=CONVERGED)
    assert first_valid(ours) == 13


def test_highest_lowest_donchian(candles):
    high, low = candles["high"], candles["low"]
    same(ta.highest(high, 20), talib.MAX(high, 20))
    same(ta.lowest(low, 20), talib.MIN(low, 20))
    same(ta.donchian(high, low, 26), talib.MIDPRICE(high, low, 26))


# --- SuperTrend and Ichimoku: TA-Lib has neither; compare with plain ports of Pine's reference ----


def pine_supertrend(high, low, close, factor, period):
    """Pine v5 manual's pine_supertrend, line by line, in plain Python."""
    n = len(close)
    tr = [high[0] - low[0]] + [
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1])) for i in range(1, n)
    ]
    atr = [math.nan] * n
    atr[period - 1] = sum(tr[:period]) / period
    for i in range(period, n):
        atr[i] = (tr[i] + (period - 1) * atr[i - 1]) / period
    upper_s, lower_s, st_s, dir_s = [math.nan] * n, [math.nan] * n, [math.nan] * n, [math.nan] * n
    for i in range(n):
        if math.isnan(atr[i]):
            continue
        src = (high[i] + low[i]) / 2
        upper, lower = src + factor * atr[i], src - factor * atr[i]
        prev_lower = 0.0 if i == 0 or math.isnan(lower_s[i - 1]) else lower_s[i - 1]
        prev_upper = 0.0 if i == 0 or math.isnan(upper_s[i - 1]) else upper_s[i - 1]
        lower = lower if (lower > prev_lower or close[i - 1] < prev_lower) else prev_lower
        upper = upper if (upper < prev_upper or close[i - 1] > prev_upper) else prev_upper
        if i == 0 or math.isnan(atr[i - 1]):
            direction = 1
        elif st_s[i - 1] == prev_upper:
            direction = -1 if close[i] > upper else 1
        else:
            direction = 1 if close[i] < lower else -1
        upper_s[i], lower_s[i] = upper, lower
        st_s[i] = lower if direction == -1 else upper
        dir_s[i] = direction
    return np.array(st_s), np.array(dir_s, dtype=float)


@pytest.mark.parametrize(("factor", "period"), [(3.0, 10), (2.0, 7)])
def test_supertrend_matches_pine_reference(candles, factor, period):
    part = candles.iloc[-6000:]
    high, low, close = (part[c].tolist() for c in ("high", "low", "close"))
    line, direction = pine_supertrend(high, low, close, factor, period)
    ours = ta.supertrend(part["high"], part["low"], part["close"], factor, period)
    np.testing.assert_allclose(ours["supertrend"].to_numpy(), line, rtol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(ours["direction"].to_numpy(), direction)
    # Pine's sign convention: -1 (up-trend) means the line is the lower band, below the close.
    up = ours["direction"] == -1
    assert (ours["supertrend"][up] < part["close"][up]).all()
    assert (ours["supertrend"][ours["direction"] == 1] > part["close"][ours["direction"] == 1]).all()


def test_supertrend_hand_checked_flip():
    """Flat range then a breakout: the trend starts down (+1) and flips up (-1) on the breakout bar."""
    close = pd.Series([10.0] * 8 + [20.0, 21.0, 22.0])
    high, low = close + 0.5, close - 0.5
    result = ta.supertrend(high, low, close, factor=1.0, atr_period=3)
    assert result["direction"].iloc[:2].isna().all()
    assert result["direction"].iloc[2] == 1  # first bar with an ATR
    assert result["supertrend"].iloc[2] == pytest.approx(11.0)  # hl2 10 + 1 × ATR 1
    assert (result["direction"].iloc[2:8] == 1).all()
    assert result["direction"].iloc[8] == -1  # close 20 breaks the upper band 11
    assert result["supertrend"].iloc[8] < 20


def pine_ichimoku(high, low, conv, base, span_b, disp):
    def mid(i, length):
        if i < length - 1:
            return math.nan
        window = range(i - length + 1, i + 1)
        return (max(high[j] for j in window) + min(low[j] for j in window)) / 2

    n = len(high)
    tenkan = [mid(i, conv) for i in range(n)]
    kijun = [mid(i, base) for i in range(n)]
    lead_a = [(tenkan[i] + kijun[i]) / 2 for i in range(n)]
    lead_b = [mid(i, span_b) for i in range(n)]
    cloud_a = [lead_a[i - (disp - 1)] if i >= disp - 1 else math.nan for i in range(n)]
    cloud_b = [lead_b[i - (disp - 1)] if i >= disp - 1 else math.nan for i in range(n)]
    return tenkan, kijun, cloud_a, cloud_b


def test_ichimoku_matches_pine_reference(candles):
    part = candles.iloc[-3000:]
    tenkan, kijun, cloud_a, cloud_b = pine_ichimoku(part["high"].tolist(), part["low"].tolist(), 9, 26, 52, 26)
    ours = ta.ichimoku(part["high"], part["low"], part["close"])
    for column, expected in (("conversion", tenkan), ("base", kijun), ("cloud_a", cloud_a), ("cloud_b", cloud_b)):
        np.testing.assert_allclose(ours[column].to_numpy(), expected, rtol=1e-12, equal_nan=True)
    # The cloud at bar t is the spans of bar t - 25 (TradingView's plot offset), never a later bar.
    np.testing.assert_array_equal(ours["cloud_a"].to_numpy()[25:], ours["span_a"].to_numpy()[:-25])
    assert (ours["lagging"] == part["close"]).all()


# --- Properties ----------------------------------------------------------------------------


def all_indicators(frame: pd.DataFrame) -> pd.DataFrame:
    h, lo, c = frame["high"], frame["low"], frame["close"]
    parts = {
        "sma": ta.sma(c, 20),
        "ema": ta.ema(c, 20),
        "rma": ta.rma(c, 14),
        "rsi": ta.rsi(c),
        "atr": ta.atr(h, lo, c),
        "tr": ta.true_range(h, lo, c),
        "donchian": ta.donchian(h, lo, 20),
    }
    frames = [
        pd.DataFrame(parts),
        ta.macd(c),
        ta.stoch(h, lo, c),
        ta.bollinger(c),
        ta.supertrend(h, lo, c),
        ta.ichimoku(h, lo, c),
    ]
    return pd.concat(frames, axis=1, keys=range(len(frames)))


def test_no_look_ahead(candles):
    """Computing on the first n candles gives exactly the first n values of computing on all of them."""
    frame = candles.iloc[:3000]
    full = all_indicators(frame)
    for n in (100, 777, 2999):
        pd.testing.assert_frame_equal(all_indicators(frame.iloc[:n]), full.iloc[:n])


def test_leading_nan_shifts_the_seed():
    values = pd.Series([np.nan, np.nan, 1.0, 2.0, 3.0, 4.0, 5.0])
    result = ta.ema(values, 3)
    assert result.iloc[:4].isna().all()
    assert result.iloc[4] == pytest.approx(2.0)  # SMA of 1, 2, 3
    assert result.iloc[5] == pytest.approx(0.5 * 4 + 0.5 * 2.0)


def test_crossover_with_a_level():
    rsi = pd.Series([25.0, 29.0, 31.0, 35.0, 29.0, np.nan, 40.0])
    assert ta.crossover(rsi, 30).tolist() == [False, False, True, False, False, False, False]
    assert ta.crossunder(rsi, 30).tolist() == [False, False, False, False, True, False, False]
    a, b = pd.Series([1.0, 2.0, 3.0]), pd.Series([2.0, 2.0, 2.0])
    assert ta.crossover(a, b).tolist() == [False, False, True]


def test_kernels_warm_up():
    from strategies import _kernels

    assert _kernels.warm_up() < 30
