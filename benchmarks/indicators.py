"""Indicator benchmark: ``strategies.indicators`` against TA-Lib on the TA-Lib set.

Standalone (no Django)::

    .venv/bin/python benchmarks/indicators.py            # both sizes + cold start
    .venv/bin/python benchmarks/indicators.py --no-cold  # skip the fresh-process timings

What is measured
- The set: RSI 14, EMA 12, EMA 26, MACD 12/26/9, Stoch 14/3/3, Bollinger 20/2, ATR 14.
- Ours: the public functions, pandas Series in (columns of the candle frame), Series/DataFrame out on the
  candles' index. TA-Lib: the C functions on the bare float64 numpy arrays (``talib.RSI(close, 14)``…),
  its fastest path (with pandas Series in and out it is several times slower) — the harder comparison.
  STOCH with SMA smoothing (``slowk_matype=0``, ``slowd_matype=0``), BBANDS with ``matype=0``.
- Data: (a) the real Binance BTC/USDT 1h candles, 37,516 bars; (b) 1,000,000 one-minute bars built from
  the real BTC/USDT 1m sample (41,760 bars) repeated end to end, each copy rescaled so that its first open
  equals the previous copy's last close (the same series as ``benchmarks/backtest.py``).
- Median of 7 runs after one warm-up run, per indicator and for the whole set in one timed call.
- Cold start: a fresh subprocess imports ``strategies.indicators`` and runs ``_kernels.warm_up()``, once
  with an empty numba cache directory (everything compiles) and once more with the cache it wrote.

``--quick`` (``make bench-quick``): 100,000 one-minute bars instead of 1,000,000, 3 runs instead of 7, no
cold start; about 10 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import talib

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the indicators need only numpy/pandas/numba, no Django

from _common import print_header, report  # noqa: E402

from strategies import _kernels  # noqa: E402
from strategies import indicators as ta  # noqa: E402

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
BTC_1H = OHLCV / "binance_BTCUSDT_1h.csv.gz"
BTC_1M = OHLCV / "binance_BTCUSDT_1m.csv.gz"
REPEATS = 7


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")


def million_minutes(n: int = 1_000_000) -> pd.DataFrame:
    """``n`` one-minute bars: the real 1m sample repeated, each copy rescaled to continue the last."""
    base = read(BTC_1M)
    prices = base[["open", "high", "low", "close"]].to_numpy()
    copies, level, total = [], prices[0, 0], 0
    while total < n:
        scaled = prices * (level / prices[0, 0])
        copies.append(scaled)
        total += len(scaled)
        level = scaled[-1, 3]
    ohlc = np.concatenate(copies)[:n]
    index = pd.date_range(base.index[0], periods=n, freq="1min")
    frame = pd.DataFrame({name: ohlc[:, i].copy() for i, name in enumerate(("open", "high", "low", "close"))})
    frame.index = index
    return frame


def ours_steps(candles: pd.DataFrame) -> dict[str, Callable[[], object]]:
    h, lo, c = candles["high"], candles["low"], candles["close"]
    return {
        "RSI 14": lambda: ta.rsi(c, 14),
        "EMA 12": lambda: ta.ema(c, 12),
        "EMA 26": lambda: ta.ema(c, 26),
        "MACD 12/26/9": lambda: ta.macd(c, 12, 26, 9),
        "Stoch 14/3/3": lambda: ta.stoch(h, lo, c, 14, 3, 3),
        "Bollinger 20/2": lambda: ta.bollinger(c, 20, 2.0),
        "ATR 14": lambda: ta.atr(h, lo, c, 14),
    }


def talib_steps(candles: pd.DataFrame) -> dict[str, Callable[[], object]]:
    h, lo, c = (candles[col].to_numpy(dtype="float64") for col in ("high", "low", "close"))
    return {
        "RSI 14": lambda: talib.RSI(c, 14),
        "EMA 12": lambda: talib.EMA(c, 12),
        "EMA 26": lambda: talib.EMA(c, 26),
        "MACD 12/26/9": lambda: talib.MACD(c, 12, 26, 9),
        "Stoch 14/3/3": lambda: talib.STOCH(h, lo, c, 14, 3, 0, 3, 0),
        "Bollinger 20/2": lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0),
        "ATR 14": lambda: talib.ATR(h, lo, c, 14),
    }


def timed(func: Callable[[], object], repeats: int, times: list[float] | None = None) -> float:
    func()  # warm-up
    times = [] if times is None else times
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def whole(steps: dict[str, Callable[[], object]]) -> Callable[[], None]:
    def run() -> None:
        for step in steps.values():
            step()

    return run


def bench(
    label: str, candles: pd.DataFrame, repeats: int, timings: dict[str, list[float]] | None = None
) -> list[tuple[str, float, float]]:
    ours, theirs = ours_steps(candles), talib_steps(candles)
    timings = {} if timings is None else timings

    def into(name: str, engine: str) -> list[float]:
        return timings.setdefault(f"{label}: {name}, {engine}", [])

    rows = [
        (name, timed(ours[name], repeats, into(name, "ours")), timed(theirs[name], repeats, into(name, "TA-Lib")))
        for name in ours
    ]
    name = "whole set (one timed run)"
    rows.append(
        (name, timed(whole(ours), repeats, into(name, "ours")), timed(whole(theirs), repeats, into(name, "TA-Lib")))
    )
    print(f"\n{label}: {len(candles):,} bars, median of {repeats} runs after a warm-up run")
    print("| indicator | ours (ms) | TA-Lib (ms) | ours / TA-Lib |")
    print("|---|---:|---:|---:|")
    for name, mine, other in rows:
        bold = "**" if name.startswith("whole") else ""
        print(f"| {bold}{name}{bold} | {mine * 1e3:.3f} | {other * 1e3:.3f} | {bold}{mine / other:.2f}x{bold} |")
    mine, other = rows[-1][1], rows[-1][2]
    print(f"whole set: ours {len(candles) / mine / 1e6:.1f} M bars/s, TA-Lib {len(candles) / other / 1e6:.1f} M bars/s")
    return rows


COLD = """
import sys, time
started = time.perf_counter()
sys.path.insert(0, {root!r})
from strategies import _kernels, indicators
imported = time.perf_counter()
seconds = _kernels.warm_up()
print(imported - started, seconds)
"""


def cold_times() -> list[tuple[str, float, float]]:
    code = COLD.format(root=str(ROOT))
    rows = []
    with tempfile.TemporaryDirectory() as cache:  # an empty numba cache: compiles, then loads what it wrote
        for label in ("numba cache empty (compiles)", "numba cache present (loads)"):
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            imported, warm = (float(v) for v in out.stdout.split())
            rows.append((label, imported, warm))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=REPEATS)
    parser.add_argument("--no-cold", action="store_true", help="skip the fresh-process cold-start timings")
    parser.add_argument("--bars", type=int, default=1_000_000, help="size of the synthetic minute series")
    parser.add_argument("--quick", action="store_true", help="100,000 minute bars, 3 runs, no cold start")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.bars, args.no_cold = 3, 100_000, True
    print_header(args)

    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"numba {numba.__version__}, TA-Lib {talib.__version__}; {os.cpu_count()} CPUs"
    )
    _kernels.warm_up()
    timings: dict[str, list[float]] = {}
    bench("BTC/USDT 1h (real)", read(BTC_1H), args.runs, timings)
    bench("synthetic 1m (real 1m sample repeated)", million_minutes(args.bars), args.runs, timings)

    cold = []
    if not args.no_cold:
        print("\nCold start, fresh process: import of strategies.indicators, then _kernels.warm_up()")
        print("| numba cache | import (s) | warm_up (s) |")
        print("|---|---:|---:|")
        cold = cold_times()
        for label, imported, warm in cold:
            print(f"| {label} | {imported:.3f} | {warm:.3f} |")
    print()
    for name, values in timings.items():
        report(name, [value * 1000 for value in values], "ms")
    for label, imported, warm in cold:
        report(f"cold start, {label}: import + warm_up", imported + warm, "s")


if __name__ == "__main__":
    main()
