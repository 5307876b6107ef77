#!/usr/bin/env python
"""Benchmark the import of a big candle file: read + check, ``import_candles`` and ``backtest --csv``.

Builds a 1,000,000-row 1m file from real candles: the real Binance BTC/USDT 1m, 5m and 1h rows of
``shared/data/ohlcv`` (41,760 + 17,568 + 37,516 = 96,844 rows, values byte for byte as Binance reported
them) are repeated in that order until there are 1,000,000 rows, and row i is re-stamped
2020-01-01T00:00:00Z + i minutes (ISO-8601 with Z), so the file is one continuous 1m series. It is
written as plain .csv and as .csv.gz (both cached in --work; rebuilt when missing).

Every measurement runs in a fresh Python subprocess (Django set up, then one call) and records the
time of the call inside the child (interpreter and Django start-up excluded), the wall time of the whole
child process (start-up included) and the child's peak RSS (``ru_maxrss`` from ``os.wait4``). Medians
of --runs. ``--tree`` picks the code the children import, so the same script measures an older commit:

    git archive <commit> | tar -x -C /tmp/trendy-before
    .venv/bin/python benchmarks/import_csv.py --tree /tmp/trendy-before

The import steps write the scratch series ``bench BTC/USDT 1m`` into an empty series (its rows are
deleted by a separate child before each run) on the databases given by --postgres and --sqlite
(migrated first).

``--quick`` (``make bench-quick``): a 50,000-row file instead of 1,000,000, one run instead of five, and
only the steps ``read_candle_csv .csv.gz``, ``backtest --csv .csv.gz`` and, when --postgres is given,
``import_candles .csv.gz`` on PostgreSQL (no SQLite file needed); about 15 s (five child processes, each
starting Django: its start-up shows in each step's child wall time).

    createdb -h 127.0.0.1 -U postgres trendy_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python manage.py migrate
    DATABASE_URL=sqlite:////tmp/trendy-import-bench.sqlite3 .venv/bin/python manage.py migrate
    .venv/bin/python benchmarks/import_csv.py --postgres postgres://postgres@127.0.0.1:5432/trendy_bench
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import print_header, report

ROOT = Path(__file__).resolve().parents[1]
OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
SOURCES = ("binance_BTCUSDT_1m.csv.gz", "binance_BTCUSDT_5m.csv.gz", "binance_BTCUSDT_1h.csv.gz")
HEADER = "timestamp,open,high,low,close,volume"
START = datetime(2020, 1, 1, tzinfo=UTC)
EXCHANGE, SYMBOL, TIMEFRAME = "bench", "BTC/USDT", "1m"

CHILD = r"""
import io, json, os, sys, time, warnings
tree, database, blocked, step, *args = sys.argv[1:]
if blocked:
    sys.path.insert(0, blocked)  # a "pyarrow" that fails to import: the environment before pyarrow was added
sys.path.insert(0, tree)
os.chdir(tree)
os.environ["DJANGO_SETTINGS_MODULE"] = "trading_site.settings"
os.environ["DATABASE_URL"] = database
warnings.filterwarnings("ignore")
import django
django.setup()
out = io.StringIO()
if step == "startup":
    import market_data.csv_import, market_data.services, strategies.management.commands.backtest  # noqa
    seconds = cpu = 0.0
elif step == "read":
    from market_data.csv_import import read_candle_csv
    started, cpu = time.perf_counter(), time.process_time()
    batch = read_candle_csv(args[0], timeframe=args[1])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    out.write(f"{len(batch)} rows")
elif step == "clear":
    from django.db import connection
    from market_data.selectors import TABLE
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE exchange = %s", [args[0]])
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        connection.connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {TABLE}")
    seconds = cpu = time.perf_counter() - started
else:
    from django.core.management import call_command
    started, cpu = time.perf_counter(), time.process_time()
    call_command(step, *args, stdout=out)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
peak_mb = int(status["VmHWM"].split()[0]) / 1024  # this process image's own high-water mark
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, "output": out.getvalue().strip()[-400:]}))
"""


def build(rows: int, work: Path) -> tuple[Path, Path]:
    """The 1m file of ``rows`` real candles, plain and gzip (cached; written line by line)."""
    work.mkdir(parents=True, exist_ok=True)
    plain, packed = work / f"bench_{rows}_1m.csv", work / f"bench_{rows}_1m.csv.gz"
    if plain.exists() and packed.exists():
        return plain, packed
    values: list[str] = []
    for name in SOURCES:
        lines = gzip.decompress((OHLCV / name).read_bytes()).decode().splitlines()
        assert lines[0] == HEADER, name
        values += [line.split(",", 1)[1] for line in lines[1:]]
    minute = timedelta(minutes=1)
    with plain.open("w") as text, gzip.open(packed, "wt", compresslevel=6) as packed_text:
        for out in (text, packed_text):
            out.write(HEADER + "\n")
        for i in range(rows):
            line = f"{(START + i * minute):%Y-%m-%dT%H:%M:%S}Z,{values[i % len(values)]}\n"
            text.write(line)
            packed_text.write(line)
    return plain, packed


class Child(subprocess.Popen):
    """Popen that reaps its child with ``os.wait4`` so the child's own peak RSS is known."""

    usage: object = None

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        pid, status, usage = os.wait4(self.pid, wait_flags)
        if pid == self.pid:
            self.usage = usage
        return pid, status


def measure(python: str, tree: Path, blocked: str, database: str, step: str, *args: str) -> dict[str, float | str]:
    started = time.perf_counter()
    child = Child(
        [python, "-c", CHILD, str(tree), database, blocked, step, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = child.communicate()
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{step} {' '.join(args)} failed:\n{stderr[-3000:]}")
    result: dict[str, float | str] = json.loads(stdout.strip().splitlines()[-1])
    result["wall"] = wall
    result["rss_mb"] = child.usage.ru_maxrss / 1024 if child.usage else float("nan")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "trendy-import-bench")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the code to measure (default: this checkout)")
    parser.add_argument("--postgres", default=os.environ.get("DATABASE_URL", ""), help="a migrated PostgreSQL URL")
    parser.add_argument("--sqlite", default="sqlite:////tmp/trendy-import-bench.sqlite3", help="a migrated SQLite URL")
    parser.add_argument("--only", nargs="*", help="step names to run (default: all)")
    parser.add_argument(
        "--without-pyarrow",
        action="store_true",
        help="make pyarrow unimportable in the children (pandas then keeps strings as Python objects): the "
        "environment of the code before pyarrow was added",
    )
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="50,000 rows, 1 run, the .csv.gz steps only")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.runs = 50_000, 1
        args.only = args.only or [
            "read_candle_csv .csv.gz",
            "backtest --csv .csv.gz",
            "import_candles .csv.gz PostgreSQL",
        ]

    python = sys.executable
    if args.build_only:
        build(args.rows, args.work)
        return 0
    print_header(args, uses_db=args.postgres or False)
    # Built in a child so this process stays small: a child's ru_maxrss starts from its parent's size.
    build_args = ["--build-only", "--rows", str(args.rows), "--work", str(args.work)]
    subprocess.run([python, __file__, *build_args], check=True)
    plain, packed = args.work / f"bench_{args.rows}_1m.csv", args.work / f"bench_{args.rows}_1m.csv.gz"
    blocked = ""
    if args.without_pyarrow:
        stub = args.work / "without-pyarrow" / "pyarrow"
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "__init__.py").write_text('raise ImportError("pyarrow is blocked for this benchmark run")\n')
        blocked = str(stub.parent)
    sqlite = args.sqlite
    market = ["--exchange", EXCHANGE, "--symbol", SYMBOL, "--timeframe", TIMEFRAME]
    backtest = ["backtest", "--strategy", "ema_crossover", "--timeframe", TIMEFRAME, "--csv"]
    sqlite_import = ["import_candles", str(packed), *market]
    pg_import = ["import_candles", str(packed), *market]
    # (name, database, command, clear the series before every run, command run once before the runs)
    steps: list[tuple[str, str, list[str], bool, list[str] | None]] = [
        ("start-up (Django + imports only)", sqlite, ["startup"], False, None),
        ("read_candle_csv .csv", sqlite, ["read", str(plain), TIMEFRAME], False, None),
        ("read_candle_csv .csv.gz", sqlite, ["read", str(packed), TIMEFRAME], False, None),
        ("backtest --csv .csv", sqlite, [*backtest, str(plain)], False, None),
        ("backtest --csv .csv.gz", sqlite, [*backtest, str(packed)], False, None),
        ("import_candles .csv.gz SQLite", sqlite, sqlite_import, True, None),
        # The same file again: every row already stored and unchanged.
        ("import again, unchanged, SQLite", sqlite, sqlite_import, False, sqlite_import),
    ]
    if args.postgres:
        steps += [
            ("import_candles .csv.gz PostgreSQL", args.postgres, pg_import, True, None),
            ("import_candles .csv PostgreSQL", args.postgres, ["import_candles", str(plain), *market], True, None),
            ("import again, unchanged, PostgreSQL", args.postgres, pg_import, False, pg_import),
        ]
    if args.only:
        steps = [step for step in steps if any(word in step[0] for word in args.only)]

    print(f"tree: {args.tree}; file: {plain} ({args.rows:,} rows; {packed.stat().st_size / 1e6:.1f} MB gzip)")
    print(f"{'step':<36} {'call s':>7} {'cpu s':>6} {'wall s':>7} {'peak MB':>7} {'maxrss':>7}  (medians)")
    figures: dict[str, list[dict]] = {}
    for name, database, (step, *step_args), clear, prepare in steps:
        if prepare:
            measure(python, args.tree, blocked, database, "clear", EXCHANGE)
            measure(python, args.tree, blocked, database, *prepare)
        results = []
        for _run in range(args.runs):
            if clear:
                measure(python, args.tree, blocked, database, "clear", EXCHANGE)
            results.append(measure(python, args.tree, blocked, database, step, *step_args))
        figures[name] = results

        def median(key: str, results: list = results) -> float:
            return statistics.median(float(r[key]) for r in results)

        output = str(results[-1]["output"]).splitlines()[0][:80] if results[-1]["output"] else ""
        print(
            f"{name:<36} {median('seconds'):7.3f} {median('cpu'):6.2f} {median('wall'):7.3f} "
            f"{median('peak_mb'):7.0f} {median('rss_mb'):7.0f}  min {min(float(r['seconds']) for r in results):.3f}; "
            f"{output}",
            flush=True,
        )
    if args.postgres:
        measure(python, args.tree, blocked, args.postgres, "clear", EXCHANGE)
    if any(database == sqlite for _name, database, _command, clear, prepare in steps if clear or prepare):
        measure(python, args.tree, blocked, sqlite, "clear", EXCHANGE)
    print()
    for name, results in figures.items():
        report(f"{name}: call", [float(r["seconds"]) for r in results], "s")
        report(f"{name}: child wall", [float(r["wall"]) for r in results], "s")
        report(f"{name}: peak RSS", [float(r["rss_mb"]) for r in results], "MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
