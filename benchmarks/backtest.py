"""Backtest engine benchmark: our numba engine against vectorbt and backtesting.py, same EMA crossover.

Standalone (no Django). Runs from the project venv (ours only) or from the benchmark venv, which also
has vectorbt and backtesting.py (never installed in the project venv)::

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -r benchmarks/requirements-bench.txt
    .venv-bench/bin/python benchmarks/backtest.py          # all three engines
    .venv/bin/python benchmarks/backtest.py                # ours only; the others are skipped with a note

What is measured
- Signals: EMA(12) / EMA(26) of the close (pandas ``ewm(span, adjust=False)``), long only: enter
  when the fast EMA crosses above the slow one, exit when it crosses below. Computed once, outside
  the timings: only the backtest is timed.
- Comparison run: no stop loss / take profit, fee 0.1 % per side, no slippage, every fill at the
  next bar's open in all three engines (ours by its rule 1; backtesting.py by its default
  ``trade_on_close=False``; vectorbt with ``price=open`` and the signals shifted one bar later).
  The trades must match: count, entry and exit times, and entry/exit prices. Sizes differ by design
  (ours: 10 % of equity as margin; vectorbt and backtesting.py: one unit from an account too large to
  run dry, since all-in sizing compounds the fees of 18,000 trades until orders are rejected), so PnL
  is not compared.
- Then ours with SL 2 % / TP 4 % (the default risk settings, slippage still 0), once on the
  precomputed signals and once with the EMA signals computed inside the timing (the whole strategy).
- Data: (a) the real Binance BTC/USDT 1h candles, 37,516 bars; (b) 1,000,000 one-minute bars built
  from the real BTC/USDT 1m sample (41,760 bars, 2024-07-27 … 2024-08-24) repeated end to end:
  each copy is rescaled so that its first open equals the previous copy's last close, and the
  timestamps continue minute by minute (no gaps), so the price path is real minute returns.
- Median of 7 runs after one warm-up run, per engine and data set, all in this one process;
  bars/s = bars / median. Cold start: a fresh subprocess importing our engine and running
  ``_core.warm_up()``, once with the numba cache cleared (compiles) and once with it present.

``--quick`` (``make bench-quick``): 100,000 one-minute bars instead of 1,000,000, 3 runs instead of 7
(backtesting.py: 1), no cold start; about 10 s in the project venv (ours only), about 60 s in the
benchmark venv with the two other engines. ``make bench`` uses ``.venv-bench`` when it exists.
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
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # import our engine from either venv (it needs only numpy/pandas/numba)

from _common import print_header, report  # noqa: E402

from strategies.backtest import BacktestSettings, _core, run_backtest  # noqa: E402

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
BTC_1H = OHLCV / "binance_BTCUSDT_1h.csv.gz"
BTC_1M = OHLCV / "binance_BTCUSDT_1m.csv.gz"
REPEATS = 7
COMPARE = BacktestSettings(fee_rate=0.001, slippage_bps=0.0, stop_loss_pct=None, take_profit_pct=None)
WITH_STOPS = BacktestSettings(fee_rate=0.001, slippage_bps=0.0, stop_loss_pct=2.0, take_profit_pct=4.0)


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")


def million_minutes(n: int = 1_000_000) -> pd.DataFrame:
    """``n`` one-minute bars: the real 1m sample repeated, each copy rescaled to continue the last."""
    base = read(BTC_1M)
    prices = base[["open", "high", "low", "close"]].to_numpy()
    volume = base["volume"].to_numpy()
    copies, level = [], prices[0, 0]
    while sum(len(c) for c in copies) < n:
        scaled = prices * (level / prices[0, 0])
        copies.append(scaled)
        level = scaled[-1, 3]
    ohlc = np.concatenate(copies)[:n]
    index = pd.date_range(base.index[0], periods=n, freq="1min")
    frame = pd.DataFrame(ohlc, columns=["open", "high", "low", "close"], index=index)
    frame["volume"] = np.resize(volume, n)
    return frame


def ema_cross(candles: pd.DataFrame) -> pd.DataFrame:
    fast = candles["close"].ewm(span=12, adjust=False).mean()
    slow = candles["close"].ewm(span=26, adjust=False).mean()
    above = fast > slow
    up = above & ~above.shift(1, fill_value=True)
    down = ~above & above.shift(1, fill_value=False)
    none = pd.Series(False, index=candles.index)
    return pd.DataFrame({"long_entry": up, "long_exit": down, "short_entry": none, "short_exit": none})


class Median(float):
    """A median in seconds that keeps the runs it was taken from (``times``) for the result lines."""

    times: list[float]


def timed(func, repeats: int = REPEATS) -> tuple[float, object]:
    result = func()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    median = Median(statistics.median(times))
    median.times = times
    return median, result


def trade_table(entry_times, exit_times, entry_prices, exit_prices) -> pd.DataFrame:
    def naive_ms(values):
        index = pd.DatetimeIndex(values)
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        return index.as_unit("ms").asi8

    return pd.DataFrame(
        {
            "entry": naive_ms(entry_times),
            "exit": naive_ms(exit_times),
            "entry_price": np.asarray(entry_prices, dtype=float),
            "exit_price": np.asarray(exit_prices, dtype=float),
        }
    )


def compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> str:
    """Same count, entry and exit times, entry and exit prices. A trade still open at the end is closed
    at the last close by ours and vectorbt but at the last bar's open by backtesting.py
    (``finalize_trades``): its exit price is left out of the price check and named."""
    if len(ours) != len(theirs):
        return f"MISMATCH: {len(ours)} vs {len(theirs)} trades"
    same_times = bool(
        (ours["entry"].to_numpy() == theirs["entry"].to_numpy()).all()
        and (ours["exit"].to_numpy() == theirs["exit"].to_numpy()).all()
    )
    entries_ok = np.allclose(ours["entry_price"], theirs["entry_price"], rtol=1e-9)
    exit_ok = np.isclose(ours["exit_price"], theirs["exit_price"], rtol=1e-9)
    last = ours["exit"].max() if len(ours) else None
    at_end = (~exit_ok) & (ours["exit"].to_numpy() == last)
    exits_ok = bool((exit_ok | at_end).all())
    if same_times and entries_ok and exits_ok:
        note = f"; {int(at_end.sum())} open at the end, closed at a different price" if at_end.any() else ""
        return f"match: {len(ours)} trades, same entry/exit times and prices{note}"
    return f"MISMATCH: times {'ok' if same_times else 'differ'}, prices {'ok' if entries_ok and exits_ok else 'differ'}"


# --- engines -----------------------------------------------------------------------------------


def run_ours(candles, signals, settings):
    return run_backtest(candles, signals, settings)


def ours_trades(result) -> pd.DataFrame:
    t = result.trades
    return trade_table(t["entry_time"], t["exit_time"], t["entry_price"], t["exit_price"])


def vectorbt_runner(candles, signals):
    import vectorbt as vbt

    naive = candles.tz_localize(None) if candles.index.tz is not None else candles  # a tz-aware index slows it
    entries = signals["long_entry"].shift(1, fill_value=False).to_numpy()
    exits = signals["long_exit"].shift(1, fill_value=False).to_numpy()
    close = naive["close"]
    price = naive["open"]
    entries = pd.Series(entries, index=naive.index)
    exits = pd.Series(exits, index=naive.index)
    freq = pd.Timedelta(np.median(np.diff(naive.index.as_unit("ms").asi8)), unit="ms")

    def run():
        return vbt.Portfolio.from_signals(
            close, entries, exits, price=price, size=1.0, fees=0.001, slippage=0.0, init_cash=1e12, freq=freq
        )

    def trades(pf) -> pd.DataFrame:
        records = pf.trades.records
        index = naive.index
        return trade_table(
            index[records["entry_idx"]], index[records["exit_idx"]], records["entry_price"], records["exit_price"]
        )

    return run, trades


def backtesting_runner(candles, signals):
    from backtesting import Backtest, Strategy

    data = candles.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    if data.index.tz is not None:
        data = data.tz_localize(None)
    entry = signals["long_entry"].to_numpy()
    exit_ = signals["long_exit"].to_numpy()

    class EmaCross(Strategy):
        def init(self):
            self.entry = self.I(lambda: entry, name="entry", plot=False)
            self.exit = self.I(lambda: exit_, name="exit", plot=False)

        def next(self):
            if not self.position and self.entry[-1]:
                self.buy(size=1)
            elif self.position and self.exit[-1]:
                self.position.close()

    bt = Backtest(data, EmaCross, cash=1e12, commission=0.001, finalize_trades=True)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bt.run()

    def trades(stats) -> pd.DataFrame:
        t = stats["_trades"]
        return trade_table(t["EntryTime"], t["ExitTime"], t["EntryPrice"], t["ExitPrice"])

    return run, trades


def importable(name: str) -> str | None:
    try:
        module = __import__(name)
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip it, with a note"
        print(f"note: {name} not importable here ({type(exc).__name__}: {exc}); skipped")
        return None
    return getattr(module, "__version__", "?")


# --- cold start --------------------------------------------------------------------------------

COLD = (
    "import sys, time; t = time.perf_counter(); sys.path.insert(0, {root!r});"
    "from strategies.backtest import _core; i = time.perf_counter() - t; w = _core.warm_up();"
    "print(i, w)"
)
VBT_COLD = (
    "import time; t = time.perf_counter(); import numpy as np, pandas as pd, vectorbt as vbt;"
    "i = pd.date_range('2024-01-01', periods=50, freq='1h'); c = pd.Series(np.linspace(1, 2, 50), index=i);"
    "e = pd.Series(np.arange(50) % 7 == 0, index=i); x = pd.Series(np.arange(50) % 7 == 3, index=i);"
    "vbt.Portfolio.from_signals(c, e, x, price=c, fees=0.001, freq='1h').trades.records;"
    "print(time.perf_counter() - t)"
)


def fresh_process(code: str, cache_dir: str | None = None) -> list[float]:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.strip().splitlines()[-1].split()]


def ours_cold(code: str, cache_dir: str, label: str) -> tuple[str, float]:
    imported, warm = fresh_process(code, cache_dir)
    return f"ours, {label}: import {imported:.2f} s (numpy, pandas, numba) + warm_up() {warm:.2f} s", imported + warm


def cold_times(with_vectorbt: bool) -> list[tuple[str, float]]:
    code = COLD.format(root=str(ROOT))
    rows = []
    with tempfile.TemporaryDirectory() as cache:  # an empty numba cache: compiles, then loads what it wrote
        rows.append(ours_cold(code, cache, "numba cache cleared (compiles)"))
        rows.append(ours_cold(code, cache, "numba cache present"))
    if with_vectorbt:
        with tempfile.TemporaryDirectory() as cache:
            for label in ("1st", "2nd"):
                (seconds,) = fresh_process(VBT_COLD, cache)
                rows.append((f"vectorbt, import + first from_signals ({label} process)", seconds))
    return rows


# --- main --------------------------------------------------------------------------------------


def bench(
    name: str, candles: pd.DataFrame, engines: dict[str, str], bt_repeats: int, repeats: int = REPEATS
) -> list[dict]:
    bars = len(candles)
    signals = ema_cross(candles)
    rows = []
    seconds, result = timed(lambda: run_ours(candles, signals, COMPARE), repeats)
    reference = ours_trades(result)
    rows.append({"data": name, "engine": "ours", "seconds": seconds, "bars": bars, "trades": len(reference)})
    if "vectorbt" in engines:
        run, trades = vectorbt_runner(candles, signals)
        seconds, pf = timed(run, repeats)
        rows.append(
            {
                "data": name,
                "engine": "vectorbt",
                "seconds": seconds,
                "bars": bars,
                "match": compare(reference, trades(pf)),
            }
        )
    if "backtesting" in engines:
        run, trades = backtesting_runner(candles, signals)
        seconds, stats = timed(run, bt_repeats)
        rows.append(
            {
                "data": name,
                "engine": f"backtesting.py (median of {bt_repeats})",
                "seconds": seconds,
                "bars": bars,
                "match": compare(reference, trades(stats)),
            }
        )
    seconds, result = timed(lambda: run_ours(candles, signals, WITH_STOPS), repeats)
    exits = result.trades["exit_reason"].value_counts().to_dict()
    rows.append(
        {
            "data": name,
            "engine": "ours, SL 2 % / TP 4 %",
            "seconds": seconds,
            "bars": bars,
            "trades": len(result.trades),
            "match": ", ".join(f"{k} {v}" for k, v in sorted(exits.items())),
        }
    )
    # The whole strategy as a user runs it: EMA signals (pandas) computed inside the timing, then the backtest.
    seconds, result = timed(lambda: run_ours(candles, ema_cross(candles), WITH_STOPS), repeats)
    rows.append(
        {
            "data": name,
            "engine": "ours, EMA signals + backtest, SL 2 % / TP 4 %",
            "seconds": seconds,
            "bars": bars,
            "trades": len(result.trades),
            "match": "signals computed inside the timing",
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000, help="size of the one-minute data set")
    parser.add_argument("--bt-repeats", type=int, default=REPEATS, help="backtesting.py repeats on the big set")
    parser.add_argument("--no-cold", action="store_true", help="skip the fresh-process cold-start timings")
    parser.add_argument("--runs", type=int, default=REPEATS, help="timed runs per engine after a warm-up run")
    parser.add_argument("--quick", action="store_true", help="100,000 minute bars, 3 runs (backtesting.py 1), no cold")
    args = parser.parse_args()
    if args.quick:
        args.bars, args.runs, args.bt_repeats, args.no_cold = 100_000, 3, 1, True
    print_header(args)

    engines = {}
    for module, label in (("vectorbt", "vectorbt"), ("backtesting", "backtesting")):
        version = importable(module)
        if version is not None:
            engines[label] = version
    import numba

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"numba {numba.__version__}"
        + "".join(f", {name} {version}" for name, version in engines.items())
        + f"; {os.cpu_count()} CPUs; {platform.machine()}"
    )
    print(f"kernel warm-up in this process: {_core.warm_up():.3f} s")

    rows = bench("BTC/USDT 1h (real)", read(BTC_1H), engines, min(args.runs, REPEATS), args.runs)
    minutes = million_minutes(args.bars)
    rows += bench(f"{args.bars:,} x 1m (real 1m, repeated)", minutes, engines, args.bt_repeats, args.runs)

    print()
    print("| data | engine | bars | median | bars/s | ours is faster by | trades / check |")
    print("|---|---|---:|---:|---:|---:|---|")
    ours = {row["data"]: row["seconds"] for row in rows if row["engine"] == "ours"}
    for row in rows:
        ratio = "" if row["engine"].startswith("ours") else f"{row['seconds'] / ours[row['data']]:,.1f}x"
        check = row.get("match") or f"{row.get('trades', '')} trades"
        if row["engine"] == "ours":
            check = f"{row['trades']} trades (reference)"
        elif row["engine"].startswith("ours,"):
            check = f"{row['trades']} trades: {row['match']}"
        print(
            f"| {row['data']} | {row['engine']} | {row['bars']:,} | {row['seconds'] * 1000:,.2f} ms "
            f"| {row['bars'] / row['seconds']:,.0f} | {ratio} | {check} |"
        )
    cold = []
    if not args.no_cold:
        print()
        print("| cold start (fresh process) | seconds |")
        print("|---|---:|")
        cold = cold_times("vectorbt" in engines)
        for label, seconds in cold:
            print(f"| {label} | {seconds:.2f} |")
    print()
    for row in rows:
        times = getattr(row["seconds"], "times", [row["seconds"]])
        report(f"{row['data']}: {row['engine']}", [t * 1000 for t in times], "ms")
    for label, seconds in cold:
        report(f"cold start: {label}", seconds, "s")


if __name__ == "__main__":
    main()
