#!/usr/bin/env python
"""Benchmark the candle write and read paths on the database of DATABASE_URL (SQLite by default).

Uses the scratch exchange id "bench", so it never touches real rows: it deletes that series first,
then N times (default 5) imports the BTC 1h file into an empty series, imports it again (no
changes), and loads it with ``load_candles``; it prints the median and minimum of each and deletes
its rows at the end. Targets: fresh import < 3 s, load < 0.3 s (a missed target exits with status 1,
except with ``--quick``, whose figures are only a smoke run).

``--quick`` (``make bench-quick``): one run instead of five (the same 37,516-row file); about 5 s.

    createdb -h 127.0.0.1 -U postgres trendy_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python benchmarks/market_data.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
warnings.filterwarnings("ignore", message="TRENDY_ENCRYPTION_KEYS is not set")

import django  # noqa: E402

django.setup()

from _common import print_header, report  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from market_data.models import Candle  # noqa: E402
from market_data.selectors import load_candles  # noqa: E402
from market_data.services import candles_import_csv  # noqa: E402

EXCHANGE = "bench"
SYMBOL = "BTC/USDT"
TIMEFRAME = "1h"
TARGETS = {"fresh import": 3.0, "re-import": None, "load_candles": 0.3}


def _clear() -> int:
    deleted, _details = Candle.objects.filter(exchange=EXCHANGE).delete()
    return deleted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run (a smoke run; targets not enforced)")
    parser.add_argument("--file", type=Path, default=Path(settings.TRENDY_OHLCV_DIR) / "binance_BTCUSDT_1h.csv.gz")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    print_header(args, uses_db=True)

    timings: dict[str, list[float]] = {name: [] for name in TARGETS}
    rows: dict[str, int] = {}
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}; file: {args.file}; runs: {args.runs}")
    _clear()
    try:
        for _run in range(args.runs):
            _clear()
            started = time.perf_counter()
            fresh = candles_import_csv(path=args.file, exchange=EXCHANGE, symbol=SYMBOL, timeframe=TIMEFRAME)
            timings["fresh import"].append(time.perf_counter() - started)
            assert fresh.inserted == fresh.rows_read, fresh

            started = time.perf_counter()
            again = candles_import_csv(path=args.file, exchange=EXCHANGE, symbol=SYMBOL, timeframe=TIMEFRAME)
            timings["re-import"].append(time.perf_counter() - started)
            assert again.inserted == again.updated == 0, again

            started = time.perf_counter()
            frame = load_candles(EXCHANGE, SYMBOL, TIMEFRAME)
            timings["load_candles"].append(time.perf_counter() - started)
            assert len(frame) == fresh.rows_read
            rows = {
                "fresh import": fresh.inserted,
                "re-import": again.unchanged,
                "load_candles": len(frame),
            }
    finally:
        _clear()

    failed = False
    print(f"{'step':<14} {'rows':>7} {'median s':>9} {'min s':>7}  target")
    for name, values in timings.items():
        median = statistics.median(values)
        target = TARGETS[name]
        verdict = "" if target is None else (f"< {target} s ok" if median < target else f"< {target} s MISSED")
        failed |= target is not None and median >= target
        print(f"{name:<14} {rows[name]:>7} {median:>9.3f} {min(values):>7.3f}  {verdict}")
    for name, values in timings.items():
        report(name, values, "s")
    return 1 if failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
