"""Market features for the regime and forecast models (pure: no Django).

Every feature at bar t is computed from bars up to and including t — the candle that has just closed — and
never from a later one (tests/analytics/test_regime_core.py changes every bar after t and checks that the
features at t do not move). Windows are counted in bars and chosen from the timeframe, so that an hourly and a
daily model look at comparable spans:

- intraday timeframes: 1, 3, 7 and 30 days of bars (24, 72, 168 and 720 bars of 1h);
- 1d: 5, 10, 20 and 60 bars.

With r the bar's log return and w each window:

- ``vol_w``: standard deviation of r over the last w bars (per bar, not annualised: a model is per market and
  timeframe);
- ``vol_ratio``: vol of the shortest window / vol of the longest (volatility waking up or calming down);
- ``mom_w``: log(close_t / close_{t-w}) divided by vol_longest × √w — the move in units of the usual noise;
- ``slope_w``: least-squares slope of log close over the last w bars, per bar, divided by vol_w;
- ``eff_w``: Kaufman's efficiency ratio |close_t − close_{t-w}| / Σ|Δclose| over w (1: a straight line, near 0:
  back and forth);
- ``volume_trend``: log(mean volume over the shortest window / mean volume over the longest);
- ``range_atr``: (high − low) of bar t / ATR(14) (Wilder's, as strategies/indicators.py);
- ``atr_pct``: ATR(14) / close;
- ``channel_atr``: (highest high − lowest low) over the second window / ATR(14) (wide channel: trending);
- ``corr_btc``: correlation of r with BTC's r over the third window, on the bars both have (absent for BTC
  itself and when no BTC series is given);
- ``hour`` (intraday only) and ``weekday`` of the bar's open time, UTC (volatility has a daily and weekly rhythm:
  weekends are calmer).

Rows before the longest window is full are dropped by :func:`feature_frame` (``dropna``), so a model never
trains on a half-filled feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies import indicators

DAY_MS = 86_400_000


def windows(timeframe_ms: int) -> tuple[int, int, int, int]:
    """The four windows, in bars, for a timeframe (see the module's docstring)."""
    if timeframe_ms >= DAY_MS:
        return (5, 10, 20, 60)
    per_day = DAY_MS // timeframe_ms
    return (per_day, 3 * per_day, 7 * per_day, 30 * per_day)


def _rolling_slope(y: pd.Series, w: int) -> pd.Series:
    """Least-squares slope of y against 0..w-1 over each window of w values, from rolling sums (O(n))."""
    i = pd.Series(np.arange(len(y), dtype=np.float64), index=y.index)
    s_y = y.rolling(w).sum()
    s_iy = (i * y).rolling(w).sum()
    start = i - (w - 1)
    s_xy = s_iy - start * s_y  # Σ (i - start) y_i
    s_x = w * (w - 1) / 2.0
    s_xx = (w - 1) * w * (2 * w - 1) / 6.0
    return (w * s_xy - s_x * s_y) / (w * s_xx - s_x * s_x)


def feature_frame(candles: pd.DataFrame, *, timeframe_ms: int, btc_close: pd.Series | None = None) -> pd.DataFrame:
    """The features of every bar of ``candles`` (open, high, low, close, volume; a DatetimeIndex of open times),
    rows with a window not yet full dropped. ``btc_close``: BTC's closes on the same timeframe (any index; aligned
    on the open times), or None for BTC itself."""
    w1, w2, w3, w4 = windows(timeframe_ms)
    close = candles["close"].astype(np.float64)
    log_close = np.log(close)
    r = log_close.diff()
    out: dict[str, pd.Series] = {}
    vols = {w: r.rolling(w).std(ddof=1) for w in (w1, w2, w3, w4)}
    long_vol = vols[w4]
    for w, vol in vols.items():
        out[f"vol_{w}"] = vol
    out["vol_ratio"] = vols[w1] / long_vol
    abs_change = close.diff().abs()
    for w in (w1, w2, w3, w4):
        move = log_close - log_close.shift(w)
        out[f"mom_{w}"] = move / (long_vol * np.sqrt(w))
        out[f"slope_{w}"] = _rolling_slope(log_close, w) / vols[w]
        out[f"eff_{w}"] = (close - close.shift(w)).abs() / abs_change.rolling(w).sum()
    volume = candles["volume"].astype(np.float64)
    out["volume_trend"] = np.log((volume.rolling(w1).mean() + 1e-12) / (volume.rolling(w4).mean() + 1e-12))
    atr = indicators.atr(candles["high"], candles["low"], close, 14)
    out["range_atr"] = (candles["high"] - candles["low"]) / atr
    out["atr_pct"] = atr / close
    out["channel_atr"] = (indicators.highest(candles["high"], w2) - indicators.lowest(candles["low"], w2)) / atr
    if btc_close is not None:
        btc_r = np.log(btc_close.astype(np.float64)).diff().reindex(candles.index)
        out["corr_btc"] = r.rolling(w3, min_periods=w3 // 2).corr(btc_r)
    if timeframe_ms < DAY_MS:
        out["hour"] = pd.Series(candles.index.hour, index=candles.index).astype(np.float64)
    out["weekday"] = pd.Series(candles.index.day_of_week, index=candles.index).astype(np.float64)
    frame = pd.DataFrame(out, index=candles.index)
    frame = frame.replace([np.inf, -np.inf], np.nan)
    return frame.dropna()
