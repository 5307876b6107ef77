"""``strategies.indicators`` on the real Binance candles in ``shared/data/ohlcv``.

- Against TA-Lib (an independent C implementation) wherever it has the indicator, to 1e-6 relative
  after the warm-up, and the warm-up positions (index of the first non-NaN value) exactly.
  Where TA-Lib seeds a recursive average differently, the difference decays geometrically and the
  comparison starts after ``CONVERGED`` bars: TA-Lib's MACD seeds its fast EMA later than ours (12 bars
  before the slow one's first value instead of at bar 11), its ATR leaves out bar 0's true range
  (first value at ``length`` instead of ``length - 1``). With factors 11/13 (fast EMA) and 13/14
  (ATR) a bar, 300 bars shrink a seed difference by 1e-22 and 2e-10.
- SuperTrend and Ichimoku (TA-Lib has neither): against plain-Python loop ports of Pine's reference
  code written here, independently of the numba kernels, to 1e-9; plus hand-computed examples.
- No look-ahead: every indicator computed on ``candles[:n]`` equals, bit for bit, the first n values of
  the same indicator computed on all candles.
- Leading NaN shift the warm-up and change nothing else.

Plain pytest: no database.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from strategies import _kernels
from strategies import indicators as ta

OHLCV = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv"
FILES = [
    "binance_BTCUSDT_1h.csv.gz",
    "binance_ETHUSDT_1h.csv.gz",
    "binance_SOLUSDT_5m.csv.gz",
    "binance_BTCUSDT_1d.csv.gz",
]
RTOL = 1e-6
CONVERGED = 300  # bars after which differently seeded recursive averages are compared (see above)


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(OHLCV / name, parse_dates=["timestamp"], index_col="timestamp")


@pytest.fixture(scope="module", params=FILES, ids=[name.split("_", 1)[1].split(".")[0] for name in FILES])
def candles(request) -> pd.DataFrame:
    return read(request.param)


@pytest.fixture(scope="module")
def btc_1h_candles() -> pd.DataFrame:
    return read(FILES[0])


def hlc(candles: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    return candles["high"], candles["low"], candles["close"]


def arrays(candles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(candles[col].to_numpy(dtype="float64") for col in ("high", "low", "close"))


def first_valid(values) -> int:
    return int(np.flatnonzero(~np.isnan(np.asarray(values, dtype="float64")))[0])


def agree(ours, theirs, start: int, atol: float = 0.0) -> None:
    """Same values from ``start`` on, to RTOL (plus ``atol`` for lines that cross zero)."""
    ours, theirs = np.asarray(ours, dtype="float64"), np.asarray(theirs, dtype="float64")
    assert not np.isnan(ours[start:]).any()
    np.testing.assert_allclose(ours[start:], theirs[start:], rtol=RTOL, atol=atol)


def on_index(result, candles: pd.DataFrame) -> None:
    assert result.index is candles.index or result.index.equals(candles.index)
    dtypes = [result.dtype] if isinstance(result, pd.Series) else list(result.dtypes)
    assert all(dtype == np.float64 for dtype in dtypes)


# --- against TA-Lib --------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 9, 20, 200])
def test_sma_matches_talib(candles, length):
    close = candles["close"]
    ours = ta.sma(close, length)
    on_index(ours, candles)
    theirs = talib.SMA(close.to_numpy(), length)
    assert first_valid(ours) == first_valid(theirs) == length - 1
    agree(ours, theirs, length - 1)


@pytest.mark.parametrize("length", [2, 12, 26, 200])
def test_ema_matches_talib(candles, length):
    close = candles["close"]
    ours = ta.ema(close, length)
    on_index(ours, candles)
    theirs = talib.EMA(close.to_numpy(), length)  # TA-Lib seeds with the SMA of the first `length` too
    assert first_valid(ours) == first_valid(theirs) == length - 1
    agree(ours, theirs, length - 1)


@pytest.mark.parametrize("length", [2, 14, 30])
def test_rsi_matches_talib(candles, length):
    close = candles["close"]
    ours = ta.rsi(close, length)
    on_index(ours, candles)
    theirs = talib.RSI(close.to_numpy(), length)
    assert first_valid(ours) == first_valid(theirs) == length
    agree(ours, theirs, length)
    assert ours.min() >= 0 and ours.max() <= 100


def test_macd_matches_talib_after_convergence(candles):
    close = candles["close"]
    ours = ta.macd(close, 12, 26, 9)
    on_index(ours, candles)
    assert list(ours.columns) == ["macd", "signal", "hist"]
    assert first_valid(ours["macd"]) == 25
    assert first_valid(ours["signal"]) == first_valid(ours["hist"]) == 33
    line, signal, hist = talib.MACD(close.to_numpy(), 12, 26, 9)
    assert first_valid(signal) == 33
    # The three lines are differences of two ~price-sized averages and cross zero: next to zero only an
    # absolute tolerance means anything. 1e-9 of the price is far below a tick.
    atol = 1e-9 * float(close.median())
    agree(ours["macd"], line, CONVERGED, atol)
    agree(ours["signal"], signal, CONVERGED, atol)
    agree(ours["hist"], hist, CONVERGED, atol)


@pytest.mark.parametrize(("k", "smooth_k", "d"), [(14, 3, 3), (5, 1, 1), (21, 5, 4)])
def test_stoch_matches_talib(candles, k, smooth_k, d):
    high, low, close = hlc(candles)
    ours = ta.stoch(high, low, close, k, smooth_k, d)
    on_index(ours, candles)
    assert list(ours.columns) == ["k", "d"]
    assert first_valid(ours["k"]) == k + smooth_k - 2
    assert first_valid(ours["d"]) == k + smooth_k + d - 3
    slowk, slowd = talib.STOCH(*arrays(candles), k, smooth_k, 0, d, 0)  # SMA smoothing (matype 0)
    start = first_valid(slowd)  # TA-Lib starts %K together with %D
    assert start == k + smooth_k + d - 3
    agree(ours["k"], slowk, start)
    agree(ours["d"], slowd, start)


@pytest.mark.parametrize(("length", "mult"), [(20, 2.0), (10, 1.5), (50, 3.0)])
def test_bollinger_matches_talib(candles, length, mult):
    close = candles["close"]
    ours = ta.bollinger(close, length, mult)
    on_index(ours, candles)
    assert list(ours.columns) == ["basis", "upper", "lower"]
    upper, middle, lower = talib.BBANDS(close.to_numpy(), length, mult, mult, 0)
    for column in ours.columns:
        assert first_valid(ours[column]) == length - 1
    assert first_valid(middle) == length - 1
    agree(ours["basis"], middle, length - 1)
    agree(ours["upper"], upper, length - 1)
    agree(ours["lower"], lower, length - 1)


def test_bollinger_uses_population_stdev(candles):
    close = candles["close"]
    bands = ta.bollinger(close, 20, 2.0)
    pd.testing.assert_series_equal(bands["basis"], ta.sma(close, 20), check_names=False)
    population = close.rolling(20).std(ddof=0)
    agree((bands["upper"] - bands["basis"]) / 2.0, population, 19)


def test_true_range_matches_talib(candles):
    high, low, close = hlc(candles)
    ours = ta.true_range(high, low, close)
    on_index(ours, candles)
    theirs = talib.TRANGE(*arrays(candles))
    assert first_valid(ours) == 0 and first_valid(theirs) == 1
    assert ours.iloc[0] == high.iloc[0] - low.iloc[0]  # Pine: no previous close, high - low
    agree(ours, theirs, 1)


@pytest.mark.parametrize("length", [10, 14])
def test_atr_matches_talib_after_convergence(candles, length):
    high, low, close = hlc(candles)
    ours = ta.atr(high, low, close, length)
    on_index(ours, candles)
    assert first_valid(ours) == length - 1
    assert ours.iloc[length - 1] == pytest.approx(ta.true_range(high, low, close).iloc[:length].mean(), rel=1e-15)
    theirs = talib.ATR(*arrays(candles), length)
    assert first_valid(theirs) == length
    agree(ours, theirs, CONVERGED)


@pytest.mark.parametrize("length", [9, 26, 52])
def test_highest_lowest_donchian_match_talib(candles, length):
    high, low, _ = hlc(candles)
    h, lo, _ = arrays(candles)
    for ours, theirs in (
        (ta.highest(high, length), talib.MAX(h, length)),
        (ta.lowest(low, length), talib.MIN(lo, length)),
        (ta.donchian(high, low, length), talib.MIDPRICE(h, lo, length)),
    ):
        on_index(ours, candles)
        assert first_valid(ours) == first_valid(theirs) == length - 1
        agree(ours, theirs, length - 1)


# --- independent plain-Python references -----------------------------------------------------------------


def py_rma(values: list[float], length: int, alpha: float) -> list[float]:
    """Pine's pine_ema / pine_rma: na until the SMA of the first `length` values exists, then recursive."""
    out, previous = [], math.nan
    for i, value in enumerate(values):
        if math.isnan(previous):
            previous = sum(values[i - length + 1 : i + 1]) / length if i >= length - 1 else math.nan
        else:
            previous = alpha * value + (1 - alpha) * previous
        out.append(previous)
    return out


def py_supertrend(high, low, close, factor: float, atr_period: int) -> tuple[list[float], list[float], list[float]]:
    """The Pine v5 manual's pine_supertrend, line by line, with Pine's na rules (nz(na) = 0, any
    comparison with na is false). Returns (supertrend, direction, atr) without masking the warm-up."""
    n = len(close)
    tr = [high[0] - low[0]] + [
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1])) for i in range(1, n)
    ]
    atr = py_rma(tr, atr_period, 1.0 / atr_period)

    def nz(x: float) -> float:
        return 0.0 if math.isnan(x) else x

    upper_band, lower_band, supertrend, direction = [], [], [], []
    for i in range(n):
        src = (high[i] + low[i]) / 2
        upper = src + factor * atr[i]
        lower = src - factor * atr[i]
        prev_lower = nz(lower_band[i - 1]) if i > 0 else 0.0
        prev_upper = nz(upper_band[i - 1]) if i > 0 else 0.0
        prev_close = close[i - 1] if i > 0 else math.nan
        lower = lower if (lower > prev_lower or prev_close < prev_lower) else prev_lower
        upper = upper if (upper < prev_upper or prev_close > prev_upper) else prev_upper
        prev_supertrend = supertrend[i - 1] if i > 0 else math.nan
        if i == 0 or math.isnan(atr[i - 1]):
            d = 1
        elif prev_supertrend == prev_upper:
            d = -1 if close[i] > upper else 1
        else:
            d = 1 if close[i] < lower else -1
        upper_band.append(upper)
        lower_band.append(lower)
        direction.append(d)
        supertrend.append(lower if d == -1 else upper)
    return supertrend, direction, atr


def py_donchian(high: list[float], low: list[float], length: int) -> list[float]:
    return [
        (max(high[i - length + 1 : i + 1]) + min(low[i - length + 1 : i + 1])) / 2 if i >= length - 1 else math.nan
        for i in range(len(high))
    ]


@pytest.mark.parametrize(("factor", "atr_period"), [(3.0, 10), (2.0, 7), (1.5, 22)])
def test_supertrend_matches_pine_reference(candles, factor, atr_period):
    high, low, close = hlc(candles)
    ours = ta.supertrend(high, low, close, factor, atr_period)
    on_index(ours, candles)
    assert list(ours.columns) == ["supertrend", "direction"]
    line, direction, atr = py_supertrend(high.tolist(), low.tolist(), close.tolist(), factor, atr_period)
    start = atr_period - 1
    assert first_valid(ours["supertrend"]) == first_valid(ours["direction"]) == first_valid(atr) == start
    assert ours.iloc[:start].isna().all().all()
    np.testing.assert_allclose(ours["supertrend"].to_numpy()[start:], line[start:], rtol=1e-9)
    np.testing.assert_array_equal(ours["direction"].to_numpy()[start:], np.array(direction[start:], dtype=float))
    assert set(ours["direction"].dropna().unique()) == {-1.0, 1.0}


def test_supertrend_sign_convention(candles):
    high, low, close = hlc(candles)
    st = ta.supertrend(high, low, close, 3.0, 10).dropna()
    price = close.loc[st.index]
    up, down = st["direction"] == -1, st["direction"] == 1
    assert up.any() and down.any()
    assert (st.loc[up, "supertrend"] <= price[up]).all()  # -1: up-trend, the line below the price
    assert (st.loc[down, "supertrend"] >= price[down]).all()  # +1: down-trend, the line above the price


def test_supertrend_hand_computed_flip():
    """12 bars, high/low = mid ± 1 and close = mid, so every true range is 2 and ATR(3) = 2 from bar 2;
    factor 1: raw bands mid ± 2. Worked by hand from pine_supertrend:

    bar  mid  raw up/lo  upper lower  dir  line
     2    8    10 / 6     10    6     1    10   (first bar with an ATR: direction 1, the upper band)
     3    7     9 / 5      9    6     1     9   (upper falls; lower holds: 5 < 6 and close[1] 8 >= 6)
     4    6     8 / 4      8    6     1     8
     5    6     8 / 4      8    6     1     8
     6    7     9 / 5      8    6     1     8   (upper holds: 9 > 8 and close[1] 6 <= 8)
     7    8    10 / 6      8    6     1     8   (close 8 is not > 8)
     8    9    11 / 7      8    7    -1     7   (close 9 > upper 8: flip to up-trend, the lower band)
     9   10    12 / 8     12    8    -1     8   (upper resets: close[1] 9 > 8)
    10   11    13 / 9     12    9    -1     9
    11   12    14 / 10    12   10    -1    10
    """
    mid = pd.Series([10.0, 9, 8, 7, 6, 6, 7, 8, 9, 10, 11, 12], index=pd.date_range("2024-01-01", periods=12, freq="h"))
    assert (ta.true_range(mid + 1, mid - 1, mid) == 2.0).all()
    st = ta.supertrend(mid + 1, mid - 1, mid, factor=1.0, atr_period=3)
    nan = np.nan
    np.testing.assert_array_equal(st["supertrend"].to_numpy(), [nan, nan, 10, 9, 8, 8, 8, 8, 7, 8, 9, 10])
    np.testing.assert_array_equal(st["direction"].to_numpy(), [nan, nan, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1])
    assert (st["supertrend"].iloc[8:] < mid.iloc[8:]).all()  # direction -1: the line is below the price


def test_ichimoku_matches_pine_reference(candles):
    high, low, close = hlc(candles)
    ours = ta.ichimoku(high, low, close)  # 9 / 26 / 52, displacement 26
    on_index(ours, candles)
    assert list(ours.columns) == ["conversion", "base", "span_a", "span_b", "cloud_a", "cloud_b", "lagging"]
    h, lo = high.tolist(), low.tolist()
    conversion, base, span_b = py_donchian(h, lo, 9), py_donchian(h, lo, 26), py_donchian(h, lo, 52)
    span_a = [(a + b) / 2 for a, b in zip(conversion, base, strict=True)]
    n = len(close)
    cloud_a = [span_a[i - 25] if i >= 25 else math.nan for i in range(n)]  # plotted with offset 26 - 1
    cloud_b = [span_b[i - 25] if i >= 25 else math.nan for i in range(n)]
    expected = {
        "conversion": conversion,
        "base": base,
        "span_a": span_a,
        "span_b": span_b,
        "cloud_a": cloud_a,
        "cloud_b": cloud_b,
        "lagging": close.tolist(),
    }
    warm_up = {"conversion": 8, "base": 25, "span_a": 25, "span_b": 51, "cloud_a": 50, "cloud_b": 76, "lagging": 0}
    for column, values in expected.items():
        assert first_valid(ours[column]) == warm_up[column] == first_valid(values), column
        np.testing.assert_allclose(ours[column].to_numpy(), values, rtol=1e-9, equal_nan=True, err_msg=column)


def test_ichimoku_cloud_is_the_span_25_bars_earlier(btc_1h_candles):
    high, low, close = hlc(btc_1h_candles)
    ich = ta.ichimoku(high, low, close, 9, 26, 52, 26)
    pd.testing.assert_series_equal(ich["cloud_a"], ich["span_a"].shift(25), check_names=False)
    pd.testing.assert_series_equal(ich["cloud_b"], ich["span_b"].shift(25), check_names=False)
    t = 1000
    assert ich["cloud_a"].iloc[t] == ich["span_a"].iloc[t - 25]
    assert ich["cloud_b"].iloc[t] == ich["span_b"].iloc[t - 25]
    pd.testing.assert_series_equal(ich["lagging"], close, check_names=False)  # never shifted back
    other = ta.ichimoku(high, low, close, 7, 22, 44, 10)
    pd.testing.assert_series_equal(other["cloud_a"], other["span_a"].shift(9), check_names=False)


def test_rma_ema_rsi_match_python_references(btc_1h_candles):
    close = btc_1h_candles["close"].iloc[:3000]
    values = close.tolist()
    for length in (1, 3, 14):
        np.testing.assert_allclose(ta.rma(close, length), py_rma(values, length, 1 / length), rtol=1e-12)
        np.testing.assert_allclose(ta.ema(close, length), py_rma(values, length, 2 / (length + 1)), rtol=1e-12)
    change = [b - a for a, b in itertools.pairwise(values)]  # from bar 1 on
    up = [math.nan, *py_rma([max(c, 0.0) for c in change], 14, 1 / 14)]
    down = [math.nan, *py_rma([max(-c, 0.0) for c in change], 14, 1 / 14)]
    expected = [100 - 100 / (1 + u / d) if d else 100.0 for u, d in zip(up, down, strict=True)]
    np.testing.assert_allclose(ta.rsi(close, 14), expected, rtol=1e-12)


# --- small hand-made cases -------------------------------------------------------------------------------


def series(*values: float) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=len(values), freq="h"), dtype="float64")


def test_ema_and_rma_seed_with_the_sma():
    x = series(1, 2, 3, 4, 5, 6)
    nan = np.nan
    np.testing.assert_allclose(ta.sma(x, 3), [nan, nan, 2, 3, 4, 5])
    # seed mean(1, 2, 3) = 2 at index 2; alpha 2/4: 0.5 * 4 + 0.5 * 2 = 3, …
    np.testing.assert_allclose(ta.ema(x, 3), [nan, nan, 2, 3, 4, 5], rtol=1e-15)
    # alpha 1/3: 4/3 + 2 * 2/3 = 8/3, 5/3 + 2/3 * 8/3 = 31/9, 6/3 + 2/3 * 31/9 = 116/27
    np.testing.assert_allclose(ta.rma(x, 3), [nan, nan, 2, 8 / 3, 31 / 9, 116 / 27], rtol=1e-15)


def test_rsi_edge_cases():
    up = series(*range(1, 21))
    down = series(*range(20, 0, -1))
    flat = series(*([5.0] * 20))
    assert (ta.rsi(up, 14).iloc[14:] == 100).all()  # no loss: 100
    assert (ta.rsi(down, 14).iloc[14:] == 0).all()  # no gain: 0
    assert (ta.rsi(flat, 14).iloc[14:] == 100).all()  # no change at all: down == 0 -> 100, as TradingView's RSI
    assert ta.rsi(up, 14).iloc[:14].isna().all()


def test_stoch_zero_range_is_nan():
    """Pine's ta.stoch divides by highest - lowest; a flat window gives na, which the SMAs carry along
    (TA-Lib writes 0 there instead)."""
    values = [10.0, 11, 12, 11, 10, 10, 10, 10, 10, 11, 12, 13]
    price = series(*values)
    st = ta.stoch(price, price, price, 5, 2, 2)
    flat = [i for i in range(4, len(values)) if max(values[i - 4 : i + 1]) == min(values[i - 4 : i + 1])]
    assert flat == [8]
    k, d = st["k"].to_numpy(), st["d"].to_numpy()
    assert np.isnan(k[:5]).all() and not np.isnan(k[5:8]).any()
    assert np.isnan(k[8:10]).all() and not np.isnan(k[10:]).any()  # NaN while the NaN raw is in its window
    assert np.isnan(d[:6]).all() and not np.isnan(d[6:8]).any()
    assert np.isnan(d[8:11]).all() and not np.isnan(d[11:]).any()
    assert k[5] == 0.0  # closes at the lowest low
    assert k[10] == 100.0  # closes at the highest high


def test_bollinger_flat_window_has_zero_width():
    x = series(*np.r_[np.linspace(100, 200, 30), np.full(25, 123.456)])
    bands = ta.bollinger(x, 20, 2.0)
    assert (bands["upper"].iloc[49:] == bands["lower"].iloc[49:]).all()
    assert (bands["upper"].iloc[49:] - bands["basis"].iloc[49:] == 0).all()


def test_crossover_and_crossunder():
    a = series(1, 3, 3, 1, np.nan, 3, 1, 2)
    b = series(2, 2, 2, 2, 2, 2, 2, 2)
    assert ta.crossover(a, b).tolist() == [False, True, False, False, False, False, False, False]
    assert ta.crossunder(a, b).tolist() == [False, False, False, True, False, False, True, False]
    # equal then above is a crossover (a[t-1] <= b[t-1]); a NaN on either bar never crosses
    c = series(2, 3, 2, 1, np.nan, 3)
    assert ta.crossover(c, 2.0).tolist() == [False, True, False, False, False, False]
    assert ta.crossunder(c, 2.0).tolist() == [False, False, False, True, False, False]
    assert ta.crossover(c, b.iloc[:6]).dtype == bool
    assert ta.crossover(c, 2.0).index.equals(c.index)


def test_macd_is_the_composition_of_emas(btc_1h_candles):
    close = btc_1h_candles["close"]
    ours = ta.macd(close, 12, 26, 9)
    line = ta.ema(close, 12) - ta.ema(close, 26)
    pd.testing.assert_series_equal(ours["macd"], line, check_names=False)
    pd.testing.assert_series_equal(ours["signal"], ta.ema(line, 9), check_names=False)
    pd.testing.assert_series_equal(ours["hist"], line - ta.ema(line, 9), check_names=False)


def test_stoch_is_the_composition_of_smas(btc_1h_candles):
    high, low, close = hlc(btc_1h_candles)
    ours = ta.stoch(high, low, close, 14, 3, 3)
    lowest, highest = ta.lowest(low, 14), ta.highest(high, 14)
    raw = 100 * (close - lowest) / (highest - lowest)
    pd.testing.assert_series_equal(ours["k"], ta.sma(raw, 3), check_names=False)
    pd.testing.assert_series_equal(ours["d"], ta.sma(ta.sma(raw, 3), 3), check_names=False)


def test_atr_is_the_rma_of_the_true_range(btc_1h_candles):
    high, low, close = hlc(btc_1h_candles)
    pd.testing.assert_series_equal(ta.atr(high, low, close, 14), ta.rma(ta.true_range(high, low, close), 14))


# --- no look-ahead, NaN input ----------------------------------------------------------------------------

INDICATORS = {
    "sma": lambda c: ta.sma(c["close"], 20),
    "ema": lambda c: ta.ema(c["close"], 12),
    "rma": lambda c: ta.rma(c["close"], 14),
    "rsi": lambda c: ta.rsi(c["close"], 14),
    "macd": lambda c: ta.macd(c["close"], 12, 26, 9),
    "stoch": lambda c: ta.stoch(c["high"], c["low"], c["close"], 14, 3, 3),
    "bollinger": lambda c: ta.bollinger(c["close"], 20, 2.0),
    "true_range": lambda c: ta.true_range(c["high"], c["low"], c["close"]),
    "atr": lambda c: ta.atr(c["high"], c["low"], c["close"], 14),
    "supertrend": lambda c: ta.supertrend(c["high"], c["low"], c["close"], 3.0, 10),
    "ichimoku": lambda c: ta.ichimoku(c["high"], c["low"], c["close"], 9, 26, 52, 26),
    "donchian": lambda c: ta.donchian(c["high"], c["low"], 20),
    "highest": lambda c: ta.highest(c["high"], 20),
    "lowest": lambda c: ta.lowest(c["low"], 20),
    "crossover": lambda c: ta.crossover(ta.ema(c["close"], 12), ta.ema(c["close"], 26)),
    "crossunder": lambda c: ta.crossunder(ta.rsi(c["close"], 14), 70.0),
}


def assert_same(a, b) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    else:
        pd.testing.assert_series_equal(a, b, check_exact=True)


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_no_look_ahead(btc_1h_candles, name):
    compute = INDICATORS[name]
    full = compute(btc_1h_candles)
    for n in (1, 2, 10, 30, 60, 100, 777, 5000, len(btc_1h_candles) - 1):
        assert_same(compute(btc_1h_candles.iloc[:n]), full.iloc[:n])


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_leading_nan_only_shifts_the_warm_up(btc_1h_candles, name):
    compute = INDICATORS[name]
    candles = btc_1h_candles.iloc[:3000]
    lead = 7
    padded_index = pd.date_range(
        candles.index[0] - pd.Timedelta(hours=lead), periods=lead, freq="h", name=candles.index.name
    )
    padded = pd.concat([pd.DataFrame(np.nan, index=padded_index, columns=candles.columns), candles])
    plain, shifted = compute(candles), compute(padded)
    assert_same(shifted.iloc[lead:], plain)
    head = shifted.iloc[:lead]
    assert not head.any() if name.startswith("cross") else head.isna().to_numpy().all()


def test_nan_inside_the_data():
    x = series(1, 2, 3, np.nan, 5, 6, 7)
    nan = np.nan
    np.testing.assert_allclose(ta.sma(x, 2), [nan, 1.5, 2.5, nan, nan, 5.5, 6.5])  # NaN while in the window
    np.testing.assert_allclose(ta.ema(x, 3), [nan, nan, 2.0, 2.0, 3.5, 4.75, 5.875])  # NaN skipped, value held
    y = series(nan, 1, nan, 2, 3, 4)  # the seed takes the first 3 non-NaN values
    np.testing.assert_allclose(ta.ema(y, 3), [nan, nan, nan, nan, 2.0, 3.0])
    np.testing.assert_allclose(ta.highest(x, 2), [nan, 2, 3, nan, nan, 6, 7])


def test_bad_lengths_are_rejected():
    x = series(1, 2, 3)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError):
            ta.sma(x, bad)
    with pytest.raises(ValueError):
        ta.macd(x, 12, 0, 9)


def test_short_input_is_all_nan():
    x = series(1, 2, 3)
    assert ta.ema(x, 5).isna().all() and ta.rsi(x, 14).isna().all()
    assert ta.supertrend(x, x, x).isna().all().all() and ta.ichimoku(x, x, x)["cloud_b"].isna().all()
    empty = series()
    assert ta.macd(empty).empty and ta.bollinger(empty).empty and len(ta.crossover(empty, 1.0)) == 0


def test_warm_up_loads_every_kernel():
    seconds = _kernels.warm_up()
    assert isinstance(seconds, float) and seconds >= 0


def test_one_compiled_specialisation_per_kernel(btc_1h_candles):
    """The indicators hand every kernel read-only C-contiguous float64 arrays, whatever the input dtype or
    layout, so the code ``warm_up`` loads is the only code ever needed (no compile inside a request)."""
    _kernels.warm_up()
    as_ints = btc_1h_candles.iloc[:500].round().astype("int64")
    rows = np.ascontiguousarray(btc_1h_candles.iloc[:500].to_numpy())  # (bars, columns), C order
    strided = pd.DataFrame(rows, columns=btc_1h_candles.columns, copy=False)
    assert not strided["close"].to_numpy().flags["C_CONTIGUOUS"]  # columns are strided views
    for frame in (btc_1h_candles, as_ints, strided):
        for compute in INDICATORS.values():
            compute(frame)
    kernels = [getattr(_kernels, name) for name in dir(_kernels) if hasattr(getattr(_kernels, name), "signatures")]
    assert len(kernels) >= 12
    for kernel in kernels:
        if not kernel.__name__.endswith("_into") and kernel.__name__ != "_two_pass":
            assert len(kernel.signatures) == 1, (kernel.__name__, kernel.signatures)


# --- the ta.* functions community Pine scripts use (issue 15) ---------------------------------------------


@pytest.mark.parametrize("length", [1, 9, 30])
def test_wma_matches_talib(candles, length):
    close = candles["close"]
    ours = ta.wma(close, length)
    theirs = talib.WMA(close.to_numpy(), length)
    on_index(ours, candles)
    assert first_valid(ours) == first_valid(theirs) == length - 1
    agree(ours, theirs, length - 1)


@pytest.mark.parametrize("length", [2, 20])
def test_stdev_matches_talib_and_numpy(candles, length):
    close = candles["close"]
    ours = ta.stdev(close, length)
    # TA-Lib takes sqrt(E[x²] - E[x]²) (pandas' rolling std is a running update too): for a window of equal
    # prices they leave up to a few 1e-5 of cancellation noise where the two-pass deviation is exactly 0.
    # numpy's two-pass std of each window is the tight check.
    agree(ours, talib.STDDEV(close.to_numpy(), length, 1.0), length - 1, atol=1e-4)
    windows = np.lib.stride_tricks.sliding_window_view(close.to_numpy(), length)
    for biased, ddof in ((True, 0), (False, 1)):
        expected = np.concatenate([np.full(length - 1, np.nan), windows.std(axis=1, ddof=ddof)])
        agree(ta.stdev(close, length, biased=biased), expected, length - 1, atol=1e-9)


def test_vwma_change_cum_cross(btc_1h_candles):
    close, volume = btc_1h_candles["close"], btc_1h_candles["volume"]
    expected = (close * volume).rolling(20).sum() / volume.rolling(20).sum()
    agree(ta.vwma(close, volume, 20), expected.to_numpy(), 19)
    agree(ta.change(close, 3), (close - close.shift(3)).to_numpy(), 3)
    assert np.isnan(ta.change(close, 3).iloc[:3]).all()
    agree(ta.cum(volume), np.cumsum(volume.to_numpy()), 0)
    fast, slow = ta.ema(close, 9), ta.ema(close, 21)
    assert (ta.cross(fast, slow) == (ta.crossover(fast, slow) | ta.crossunder(fast, slow))).all()


def test_cum_counts_na_as_zero_after_the_first_value():
    got = ta.cum(pd.Series([np.nan, 1.0, np.nan, 2.0]))
    assert np.isnan(got.iloc[0]) and got.iloc[1:].tolist() == [1.0, 1.0, 3.0]


def _pivot_loop(values, left, right, higher):
    out = [math.nan] * len(values)
    for t in range(left + right, len(values)):
        centre = values[t - right]
        others = values[t - right - left : t - right] + values[t - right + 1 : t + 1]
        if not math.isnan(centre) and all((centre > v) if higher else (centre < v) for v in others):
            out[t] = centre
    return out


@pytest.mark.parametrize(("left", "right"), [(1, 1), (5, 2), (3, 8)])
def test_pivots_match_a_plain_loop_and_never_look_ahead(btc_1h_candles, left, right):
    high = btc_1h_candles["high"].iloc[:3000]
    low = btc_1h_candles["low"].iloc[:3000]
    np.testing.assert_array_equal(ta.pivothigh(high, left, right), _pivot_loop(high.tolist(), left, right, True))
    np.testing.assert_array_equal(ta.pivotlow(low, left, right), _pivot_loop(low.tolist(), left, right, False))
    assert np.isfinite(ta.pivothigh(high, left, right)).sum() > 10
    part = ta.pivothigh(high.iloc[:1000], left, right)
    np.testing.assert_array_equal(part, ta.pivothigh(high, left, right).iloc[:1000])


def test_barssince_and_valuewhen_by_hand():
    cond = pd.Series([False, True, False, False, True, False])
    src = pd.Series([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    np.testing.assert_array_equal(ta.barssince(cond), [np.nan, 0, 1, 2, 0, 1])
    np.testing.assert_array_equal(ta.valuewhen(cond, src, 0), [np.nan, 11, 11, 11, 14, 14])
    np.testing.assert_array_equal(ta.valuewhen(cond, src, 1), [np.nan, np.nan, np.nan, np.nan, 11, 11])
    with pytest.raises(ValueError, match="occurrence"):
        ta.valuewhen(cond, src, -1)
