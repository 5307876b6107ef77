#!/usr/bin/env python
"""Benchmark one Prometheus scrape of ``/metrics`` at scale: the figures read at scrape time (open positions,
portfolio value and drawdown per exchange, queue depths, model ages, the loop's and the beat's age) with 10,000
enabled accounts, a month of hourly equity snapshots each (7.2 million rows) and 5,000 open positions, on the
database of DATABASE_URL. Target: p95 < 500 ms (Prometheus scrapes every 15 s with a 10 s time-out). The portfolio
figures are computed every 30 s by the beat's task and read from the cache by the scrape (computing them at each
scrape took 1.7 s at full size); the task's own time is reported too.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python benchmarks/metrics_scrape.py [--quick] [--clean]

Seeding (idempotent: rows of the same size are reused): ``--accounts`` paper accounts of ``--users`` scratch users
(``bench-metrics-<n>@bench.invalid``), ``--snapshots`` hourly equity snapshots each (a random walk), by ``COPY``;
an open position for every other account; ``VACUUM ANALYZE``. Measuring, in this process (no network): ``GET
/metrics`` through Django's test client with the bearer token, ``--repeat`` times after 3 warm-ups (the first
computes the portfolio figures into the cache, as the task does), the scrape-time collector alone, and the task's
refresh of the portfolio figures 3 times; then EXPLAIN (ANALYZE, BUFFERS) of the portfolio query. Prints
``result`` lines and ``result  target p95 < 500 ms: PASS|FAIL``.

Full size: 10,000 accounts x 720 snapshots, 30 scrapes. ``--quick``: 1,000 x 72, 10 scrapes.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
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
from django.test import Client  # noqa: E402

from accounts.models import ExchangeAccount, User  # noqa: E402
from trading.models import EquitySnapshot, Position  # noqa: E402
from trading_site import metrics_state  # noqa: E402

TARGET_MS = 500.0
PREFIX = "bench-metrics-"
START = datetime(2025, 5, 1, tzinfo=UTC)


def seed(accounts: int, snapshots: int, users: int) -> None:
    mine = ExchangeAccount.objects.filter(user__email__startswith=PREFIX)
    if (
        mine.count() == accounts
        and EquitySnapshot.objects.filter(exchange_account__in=mine).count() == accounts * snapshots
    ):
        print(f"reusing {accounts:,} accounts x {snapshots} snapshots")
        return
    started = time.perf_counter()
    User.objects.filter(email__startswith=PREFIX).delete()
    people = User.objects.bulk_create(
        [User(email=f"{PREFIX}{n}@bench.invalid", password="!") for n in range(users)],  # noqa: S106 - unusable
        batch_size=1000,
    )
    rows = ExchangeAccount.objects.bulk_create(
        [
            ExchangeAccount(user=people[n % users], exchange="paper", label=f"bench {n}", paper_balance=10_000)
            for n in range(accounts)
        ],
        batch_size=1000,
    )
    rng = random.Random(20)  # noqa: S311 - reproducible data, no secret
    buffer = io.StringIO()
    for account in rows:
        equity = 10_000.0
        for k in range(snapshots):
            equity *= 1 + rng.gauss(0, 0.004)
            at = (START + timedelta(hours=k)).isoformat()
            buffer.write(f"{account.pk}\t{at}\t{equity:.2f}\t{equity:.2f}\n")
    buffer.seek(0)
    with (
        connection.cursor() as cursor,
        cursor.copy(
            f"COPY {EquitySnapshot._meta.db_table} (exchange_account_id, time, balance, equity) FROM STDIN"
        ) as copy,
    ):
        copy.write(buffer.getvalue())
    Position.objects.bulk_create(
        [
            Position(
                user=account.user,
                exchange_account=account,
                symbol="BTC/USDT",
                side="long",
                amount=1,
                entry_price=50_000,
                leverage=1,
                margin=50_000,
                opened_at=START,
                status="open",
            )
            for account in rows[::2]
        ],
        batch_size=1000,
    )
    with connection.cursor() as cursor:
        for model in (EquitySnapshot, Position, ExchangeAccount):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    print(f"seeded {accounts:,} accounts x {snapshots} snapshots in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--accounts", type=int)
    parser.add_argument("--snapshots", type=int)
    parser.add_argument("--users", type=int)
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--clean", action="store_true", help="delete the scratch rows at the end")
    args = parser.parse_args()
    args.accounts = args.accounts or (1_000 if args.quick else 10_000)
    args.snapshots = args.snapshots or (72 if args.quick else 720)
    args.users = args.users or max(1, args.accounts // 2)
    args.repeat = args.repeat or (10 if args.quick else 30)
    print_header(args, uses_db=True, uses_redis=True)
    seed(args.accounts, args.snapshots, args.users)

    settings.TRENDY_METRICS_TOKEN = "bench-token"  # noqa: S105 - a scratch token for this process
    settings.ALLOWED_HOSTS = ["testserver"]
    client = Client()
    collector = metrics_state.StateCollector()
    for _ in range(3):
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer bench-token").status_code == 200
    pages, state = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer bench-token")
        pages.append(time.perf_counter() - started)
        assert response.status_code == 200
        started = time.perf_counter()
        families = list(collector.collect())
        state.append(time.perf_counter() - started)
    text = response.content.decode()
    assert "trendy_portfolio_value_usd" in text and "trendy_active_positions" in text, "the state figures are missing"
    print(f"scrape: {len(text):,} bytes, {sum(len(f.samples) for f in families)} state samples")
    page = report("GET /metrics (whole scrape)", [t * 1000 for t in pages], "ms")
    report("scrape-time collector alone", [t * 1000 for t in state], "ms")
    refreshes = []
    for _ in range(3):
        started = time.perf_counter()
        metrics_state.portfolio_refresh()
        refreshes.append(time.perf_counter() - started)
    report("portfolio figures refresh (the beat's task, every 30 s)", [t * 1000 for t in refreshes], "ms")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + metrics_state.portfolio_sql(), [metrics_state.DRAWDOWN_WINDOW])
        print("\n".join(row[0] for row in cursor.fetchall()))
    p95 = page.get("p95", page["max"])
    print(f"result  target p95 < {TARGET_MS:.0f} ms: {'PASS' if p95 < TARGET_MS else 'FAIL'} ({p95:.1f} ms)")
    if args.clean:
        User.objects.filter(email__startswith=PREFIX).delete()


if __name__ == "__main__":
    main()
