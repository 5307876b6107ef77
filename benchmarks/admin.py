#!/usr/bin/env python
"""Benchmark the candle changelist in the admin on the database of DATABASE_URL (SQLite by default).

Imports every real candle file of TRENDY_OHLCV_DIR under the scratch exchange id "benchadmin" (about
330,000 candles; rows of other exchanges stay and count too; PostgreSQL vacuums the table first), then
requests the changelist as a superuser through Django's test client (the whole view and its template, no
network), N times after one warm-up (default 7), with the series filter (one loose index scan) and, for
comparison, with the three per-column filters it replaced (three SELECT DISTINCTs over every candle).
Prints medians and deletes its rows and its user.

``--quick`` (``make bench-quick``): only ``binance_BTCUSDT_1[hd].csv.gz`` (39,080 candles) and 2 runs per
page instead of 7; about 10 s.

    createdb -h 127.0.0.1 -U postgres trendy_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python benchmarks/admin.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
warnings.filterwarnings("ignore", message="TRENDY_ENCRYPTION_KEYS is not set")

import django  # noqa: E402

django.setup()

from _common import print_header, report  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib import admin  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import User  # noqa: E402
from market_data.management.reports import parse_file_name  # noqa: E402
from market_data.models import Candle  # noqa: E402
from market_data.services import candles_import_csv  # noqa: E402

EXCHANGE = "benchadmin"
EMAIL = "bench-admin@example.com"
URL = "/admin/market_data/candle/"


def _import(folder: Path, pattern: str = "*.csv.gz") -> int:
    total = 0
    for path in sorted(folder.glob(pattern)):
        named = parse_file_name(str(path))
        report = candles_import_csv(path=path, exchange=EXCHANGE, symbol=named["pair"], timeframe=named["timeframe"])
        total += report.rows_read
    return total


def _measure(client: Client, query: dict[str, str], runs: int, times: list[float] | None = None) -> tuple[float, int]:
    url = URL + ("?" + urlencode(query) if query else "")
    assert client.get(url).status_code == 200, url
    times = [] if times is None else times
    for _run in range(runs):
        started = time.perf_counter()
        client.get(url)
        times.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return statistics.median(times), len(queries.captured_queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--folder", type=Path, default=Path(settings.TRENDY_OHLCV_DIR))
    parser.add_argument("--glob", default="*.csv.gz", help="the files of --folder to import")
    parser.add_argument("--quick", action="store_true", help="BTC/USDT 1h and 1d only, 2 runs")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.glob = 2, "binance_BTCUSDT_1[hd].csv.gz"
    print_header(args, uses_db=True)
    timings: dict[str, list[float]] = {}
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.DEBUG = False

    Candle.objects.filter(exchange=EXCHANGE).delete()
    User.objects.filter(email=EMAIL).delete()
    try:
        imported = _import(args.folder, args.glob)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # earlier runs' deleted rows would otherwise be walked past
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(Candle._meta.db_table)}")
        print(f"database: {connection.vendor} {connection.settings_dict['NAME']}; imported {imported} candles; "
              f"{Candle.objects.count()} in the table; runs: {args.runs}")  # fmt: skip
        client = Client()
        client.force_login(User.objects.create_superuser(EMAIL, None))
        series = f"{EXCHANGE}|BTC/USDT|1h"
        cases = [
            ("changelist", {}),
            ("one series", {"series": series}),
            ("one series, one month", {"series": series, "open_time__year": "2024", "open_time__month": "8"}),
            ("search BTC", {"q": "BTC"}),
        ]
        candle_admin = admin.site._registry[Candle]
        print("| page | series filter | three column filters (before) |\n|---|---:|---:|")
        for name, query in cases:
            after, after_queries = _measure(client, query, args.runs, timings.setdefault(name, []))
            candle_admin.list_filter = ["exchange", "timeframe", "symbol"]
            before_query = {k: v for k, v in query.items() if k != "series"}
            if "series" in query:
                before_query.update(exchange=EXCHANGE, symbol="BTC/USDT", timeframe="1h")
            try:
                before, before_queries = _measure(
                    client, before_query, args.runs, timings.setdefault(f"{name} (three column filters)", [])
                )
            finally:
                candle_admin.list_filter = type(candle_admin).list_filter
            print(f"| {name} | {after * 1000:.0f} ms ({after_queries} queries) "
                  f"| {before * 1000:.0f} ms ({before_queries} queries) |")  # fmt: skip
    finally:
        Candle.objects.filter(exchange=EXCHANGE).delete()
        User.objects.filter(email=EMAIL).delete()
    for name, values in timings.items():
        report(name, [value * 1000 for value in values], "ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
