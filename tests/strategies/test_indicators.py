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
# TA-Lib seeds two recursions differently: its MACD starts the fast EMA later, and its ATR skips the first
# bar's true range. The gap shrinks geometrically — by (25/27)^t for the slow EMA, (13/14)^t for the ATR —
# to below 1e-12 relative after 400 bars; values are compared from there on (and must differ before).
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
        "highest": ta.highest(h, 20),
        "lowest": ta.lowest(lo, 20),
    }
    fast, slow = ta.ema(c, 12), ta.ema(c, 26)
    events = {
        "cross_up": ta.crossover(fast, slow),
        "cross_down": ta.crossunder(fast, slow),
        "rsi_up": ta.crossover(parts["rsi"], 30),
        "rsi_down": ta.crossunder(parts["rsi"], 70),
    }
    frames = [
        pd.DataFrame(parts),
        pd.DataFrame(events).astype("float64"),
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


def test_warm_up_positions_and_types(candles):
    """The first non-NaN index of every output, on the real candles (no NaN in them)."""
    h, lo, c = candles["high"], candles["low"], candles["close"]
    expected = {
        "sma": (ta.sma(c, 20), 19),
        "ema": (ta.ema(c, 12), 11),
        "rma": (ta.rma(c, 14), 13),
        "rsi": (ta.rsi(c, 14), 14),
        "atr": (ta.atr(h, lo, c, 14), 13),
        "tr": (ta.true_range(h, lo, c), 0),
        "highest": (ta.highest(h, 20), 19),
        "lowest": (ta.lowest(lo, 20), 19),
        "donchian": (ta.donchian(h, lo, 26), 25),
    }
    frames = {
        "macd": (ta.macd(c), {"macd": 25, "signal": 33, "hist": 33}),
        "stoch": (ta.stoch(h, lo, c), {"k": 15, "d": 17}),
        "bollinger": (ta.bollinger(c), {"basis": 19, "upper": 19, "lower": 19}),
        "supertrend": (ta.supertrend(h, lo, c, 3.0, 10), {"supertrend": 9, "direction": 9}),
        "ichimoku": (
            ta.ichimoku(h, lo, c),
            {"conversion": 8, "base": 25, "span_a": 25, "span_b": 51, "cloud_a": 50, "cloud_b": 76, "lagging": 0},
        ),
    }
    for name, (series, first) in expected.items():
        assert series.dtype == np.float64, name
        assert series.index.equals(candles.index), name
        assert first_valid(series) == first, name
    for name, (frame, firsts) in frames.items():
        assert list(frame.columns) == list(firsts), name
        assert frame.index.equals(candles.index), name
        assert (frame.dtypes == np.float64).all(), name
        for column, first in firsts.items():
            assert first_valid(frame[column]) == first, (name, column)
    # With the stated windows the seeds are known to differ before CONVERGED: the comparison is not vacuous.
    assert not np.allclose(ta.atr(h, lo, c, 14).iloc[13:20], talib.ATR(h, lo, c, 14)[13:20], rtol=1e-9)


def test_bollinger_is_population_stdev(candles):
    close = candles["close"].iloc[:2000]
    bands = ta.bollinger(close, 20, 2.0)
    std = close.rolling(20).std(ddof=0)
    same(bands["basis"], close.rolling(20).mean())
    same(bands["upper"], close.rolling(20).mean() + 2 * std)


def test_leading_nan_shifts_every_indicator(candles):
    """NaN before the data shifts every output (and its warm-up) by the number of NaN, and nothing else."""
    frame = candles.iloc[:1500]
    pad = 7
    blank = pd.DataFrame(np.nan, index=range(pad), columns=frame.columns)
    padded = pd.concat([blank, frame.reset_index(drop=True)], ignore_index=True)
    plain = all_indicators(frame.reset_index(drop=True))
    shifted = all_indicators(padded)
    assert shifted.iloc[:pad].drop(columns=1, level=0).isna().all().all()
    assert not shifted.iloc[:pad][1].any().any()  # crossings are False, not NaN
    expected = plain.copy()
    expected.index = expected.index + pad
    pd.testing.assert_frame_equal(shifted.iloc[pad:], expected, check_dtype=False)


def test_interior_nan():
    values = pd.Series([1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0])
    ema = ta.ema(values, 3)
    assert ema.iloc[3] == ema.iloc[2]  # a NaN bar repeats the average, the next bar continues from it
    assert ema.iloc[4] == pytest.approx(0.5 * 5 + 0.5 * ema.iloc[2])
    sma = ta.sma(values, 3)
    assert sma.iloc[3:6].isna().all() and sma.iloc[6] == pytest.approx(6.0)  # NaN while in the window
    assert ta.highest(values, 2).iloc[3:5].isna().all() and ta.highest(values, 2).iloc[5] == 6.0


def test_rsi_extremes():
    assert (ta.rsi(pd.Series(np.arange(30.0)), 14).iloc[14:] == 100).all()  # no losses
    assert (ta.rsi(pd.Series(np.arange(30.0, 0, -1)), 14).iloc[14:] == 0).all()  # no gains
    assert (ta.rsi(pd.Series(np.full(30, 5.0)), 14).iloc[14:] == 100).all()  # Pine: down == 0 -> 100


def test_stoch_zero_range_is_nan():
    """A flat market (highest high == lowest low over k bars) has no %K: NaN, and NaN in every SMA window
    that contains it (Pine's division by zero; TA-Lib gives 0 instead)."""
    price = np.r_[np.arange(1.0, 11.0), np.full(6, 10.0), np.arange(11.0, 21.0)]  # flat at 9..15
    s = pd.Series(price)
    result = ta.stoch(s, s, s, k=4, smooth_k=2, d=2)
    flat = [i for i in range(3, len(s)) if s.iloc[i - 3 : i + 1].nunique() == 1]
    assert flat == [12, 13, 14, 15]
    assert result["k"].iloc[4:12].notna().all() and result["k"].iloc[11] == pytest.approx(100.0)
    assert result["k"].iloc[12:17].isna().all()  # raw NaN at 12..15 -> %K (2 bars) NaN at 12..16
    assert result["d"].iloc[12:18].isna().all()  # %D (2 bars of %K) NaN at 12..17
    assert result["k"].iloc[17:].notna().all() and result["d"].iloc[18:].notna().all()


def test_supertrend_sign_convention(candles):
    result = ta.supertrend(candles["high"], candles["low"], candles["close"])
    valid = result["direction"].notna()
    assert set(result["direction"][valid].unique()) == {-1.0, 1.0}
    up = result["direction"] == -1
    assert (result["supertrend"][up] <= candles["close"][up]).all()
    assert (result["supertrend"][result["direction"] == 1] >= candles["close"][result["direction"] == 1]).all()


def test_invalid_lengths_raise():
    s = pd.Series([1.0, 2.0, 3.0])
    for call in (lambda: ta.sma(s, 0), lambda: ta.ema(s, -1), lambda: ta.rsi(s, 2.5), lambda: ta.macd(s, 0)):
        with pytest.raises(ValueError):
            call()


def test_short_input_is_all_nan():
    s = pd.Series([1.0, 2.0, 3.0])
    assert ta.ema(s, 5).isna().all() and ta.rsi(s, 14).isna().all() and ta.macd(s).isna().all().all()
    assert ta.stoch(s, s, s).isna().all().all() and ta.supertrend(s, s, s).isna().all().all()
    assert len(ta.ichimoku(s.iloc[:0], s.iloc[:0], s.iloc[:0])) == 0


def test_kernels_warm_up():
    from strategies import _kernels

    assert _kernels.warm_up() < 30
