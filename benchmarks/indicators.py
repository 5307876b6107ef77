"""The indicator set against TA-Lib: RSI 14, EMA 12 and 26, MACD, Stoch, Bollinger, ATR.

    .venv/bin/python benchmarks/indicators.py [--runs 7]

Target (issue 3): the whole set within 2x of TA-Lib's time. Medians of N runs after a warm-up run,
on the real BTC/USDT 1h candles (37,516 bars) and on 1,000,000 bars (the 1h candles' returns tiled).
Ours is timed through the public pandas API (Series in, Series/DataFrame out), TA-Lib on bare numpy arrays.
Also prints the numba cold time: import + ``_kernels.warm_up()`` in a fresh process, with and without the
on-disk cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import talib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from strategies import indicators as ta  # noqa: E402

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"


def ours(frame: pd.DataFrame) -> dict[str, float]:
    h, lo, c = frame["high"], frame["low"], frame["close"]
    steps = {
        "rsi": lambda: ta.rsi(c, 14),
        "ema": lambda: (ta.ema(c, 12), ta.ema(c, 26)),
        "macd": lambda: ta.macd(c, 12, 26, 9),
        "stoch": lambda: ta.stoch(h, lo, c, 14, 3, 3),
        "bollinger": lambda: ta.bollinger(c, 20, 2.0),
        "atr": lambda: ta.atr(h, lo, c, 14),
    }
    return _time(steps)


def talibs(frame: pd.DataFrame) -> dict[str, float]:
    h, lo, c = (frame[col].to_numpy() for col in ("high", "low", "close"))
    steps = {
        "rsi": lambda: talib.RSI(c, 14),
        "ema": lambda: (talib.EMA(c, 12), talib.EMA(c, 26)),
        "macd": lambda: talib.MACD(c, 12, 26, 9),
        "stoch": lambda: talib.STOCH(h, lo, c, 14, 3, 0, 3, 0),
        "bollinger": lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0),
        "atr": lambda: talib.ATR(h, lo, c, 14),
    }
    return _time(steps)


def _time(steps) -> dict[str, float]:
    out = {}
    for name, step in steps.items():
        started = time.perf_counter()
        step()
        out[name] = time.perf_counter() - started
    out["total"] = sum(out.values())
    return out


def medians(fn, frame: pd.DataFrame, runs: int) -> dict[str, float]:
    fn(frame)
    samples = [fn(frame) for _ in range(runs)]
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def million(frame: pd.DataFrame) -> pd.DataFrame:
    rel = frame[["open", "high", "low", "close"]].div(frame["close"].shift(1), axis=0).iloc[1:].to_numpy()
    reps = int(np.ceil(1_000_000 / len(rel)))
    rel = np.tile(rel, (reps, 1))[:1_000_000]
    closes = 30_000.0 * np.cumprod(rel[:, 3])
    previous = np.concatenate([[30_000.0], closes[:-1]])
    out = pd.DataFrame(rel * previous[:, None], columns=["open", "high", "low", "close"])
    out.index = pd.date_range("2000-01-01", periods=len(out), freq="1h", tz="UTC")
    return out


def cold(cache_dir: str | None = None) -> float:
    """Seconds to import the kernels and run ``warm_up()`` once in a fresh Python process.

    ``cache_dir`` points ``NUMBA_CACHE_DIR`` at an empty directory: nothing cached, every kernel compiles."""
    code = (
        f"import sys,time; sys.path.insert(0,{str(ROOT)!r}); t=time.perf_counter(); "
        "from strategies import _kernels; _kernels.warm_up(); print(time.perf_counter()-t)"
    )
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return float(result.stdout)


def cold_times() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as empty:
        compiled = cold(empty)
    cold()  # make sure the on-disk cache is populated
    cached = statistics.median(cold() for _ in range(3))
    return compiled, cached


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    hourly = pd.read_csv(OHLCV / "binance_BTCUSDT_1h.csv.gz", parse_dates=["timestamp"], index_col="timestamp")
    compiled, cached = cold_times()
    print("numba kernels, import + warm_up() in a fresh process:")
    print(f"  without the on-disk cache (compiles every kernel): {compiled:.2f} s")
    print(f"  with the on-disk cache (median of 3):              {cached:.2f} s")
    for label, frame in (("BTC/USDT 1h, 37,516 bars", hourly), ("1,000,000 bars", million(hourly))):
        a, b = medians(ours, frame, args.runs), medians(talibs, frame, args.runs)
        print(f"\n{label} (median of {args.runs})")
        print(f"{'indicator':<10}{'ours ms':>10}{'TA-Lib ms':>11}{'ratio':>8}")
        for key in a:
            print(f"{key:<10}{a[key] * 1000:>10.2f}{b[key] * 1000:>11.2f}{a[key] / b[key]:>8.2f}")
        verdict = "ok" if a["total"] <= 2 * b["total"] else "MISSED"
        print(f"target: total within 2x of TA-Lib -> {a['total'] / b['total']:.2f}x {verdict}")


if __name__ == "__main__":
    main()
