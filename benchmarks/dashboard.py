#!/usr/bin/env python
"""Benchmark the dashboard and its htmx parts with a heavy trader: 100 open positions, 100,000 trades
(50,000 closed positions), 20,000 equity snapshots, on the database of DATABASE_URL.

Rows are made directly (bulk inserts, synthetic values: only their number matters here) for a scratch user
``bench-dashboard@bench.invalid``, deleted at the end. Each page is requested REPEAT times through Django's
test client in this process (no network, no server: the view, the queries and the template), after two
warm-up requests; prints p50/p95 and the number of queries. Target: p95 < 150 ms per request.
The real BTC/USDT 1h candles (exchange "binance") are imported once when missing and left in the database.

``--quick`` (``make bench-quick``): 2,000 trades, 10 open positions, 2,000 equity snapshots and 5 requests
per page instead of 100,000 / 100 / 20,000 / 40; about 15 s.

    createdb -h 127.0.0.1 -U postgres trendy_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python benchmarks/dashboard.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
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
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import ExchangeAccount, User  # noqa: E402
from market_data.csv_import import read_candle_csv  # noqa: E402
from market_data.models import Candle  # noqa: E402
from market_data.services import candles_upsert  # noqa: E402
from trading import clock  # noqa: E402
from trading.models import Bot, EquitySnapshot, Order, Position, Trade  # noqa: E402

EMAIL = "bench-dashboard@bench.invalid"
NOW = datetime(2024, 12, 1, tzinfo=UTC)


def setup(trades: int, open_positions: int, snapshots: int = 20_000) -> User:
    if not Candle.objects.filter(exchange="binance", symbol="BTC/USDT", timeframe="1h").exists():
        batch = read_candle_csv(settings.TRENDY_OHLCV_DIR / "binance_BTCUSDT_1h.csv.gz", timeframe="1h")
        candles_upsert(exchange="binance", symbol="BTC/USDT", timeframe="1h", candles=batch)
    user = User.objects.create_user(email=EMAIL, password=None)
    account = ExchangeAccount.objects.create(user=user, exchange="paper", label="Paper", paper_balance=D(10_000))
    bot = Bot.objects.create(
        user=user, exchange_account=account, name="bench", strategy="supertrend", symbol="BTC/USDT",
        timeframe="1h", status=Bot.Status.RUNNING,
    )  # fmt: skip
    closed = trades // 2
    positions = Position.objects.bulk_create(
        [
            Position(
                user=user,
                exchange_account=account,
                bot=bot,
                symbol="BTC/USDT",
                side="long",
                amount=D("0.01"),
                entry_price=D(60_000),
                status="closed",
                realized_pnl=D(k % 7 - 3),
                exit_price=D(60_100),
                opened_at=NOW - timedelta(hours=2 * k + 2),
                closed_at=NOW - timedelta(hours=2 * k + 1),
            )
            for k in range(closed)
        ],
        batch_size=5000,
    )
    orders = Order.objects.bulk_create(
        [
            Order(
                user=user,
                exchange_account=account,
                bot=bot,
                position=p,
                symbol="BTC/USDT",
                side="buy" if leg == 0 else "sell",
                type="market",
                purpose="entry" if leg == 0 else "exit",
                amount=D("0.01"),
                client_order_id=f"B{p.pk}-{leg}",
                status="filled",
            )
            for p in positions
            for leg in (0, 1)
        ],
        batch_size=5000,
    )
    Trade.objects.bulk_create(
        [
            Trade(
                user=user,
                exchange_account=account,
                order=o,
                position_id=o.position_id,
                bot=bot,
                symbol="BTC/USDT",
                side=o.side,
                amount=D("0.01"),
                price=D(60_000),
                realized_pnl=D(1) if o.side == "sell" else D(0),
                time=NOW - timedelta(hours=k),
            )
            for k, o in enumerate(orders)
        ],
        batch_size=5000,
    )
    Position.objects.bulk_create(
        [
            Position(
                user=user,
                exchange_account=account,
                symbol=f"S{k:03d}/USDT",
                side="long",
                amount=D(1),
                entry_price=D(100),
                mark_price=D(101),
                opened_at=NOW,
            )
            for k in range(open_positions)
        ]
    )
    EquitySnapshot.objects.bulk_create(
        [
            EquitySnapshot(
                exchange_account=account, time=NOW - timedelta(minutes=k), balance=D(10_000), equity=D(10_000 + k % 50)
            )
            for k in range(snapshots)
        ],
        batch_size=5000,
    )
    return user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--positions", type=int, default=100)
    parser.add_argument("--snapshots", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="2,000 trades, 10 positions, 2,000 snapshots, 5 requests")
    args = parser.parse_args()
    if args.quick:
        args.trades, args.positions, args.snapshots, args.repeat = 2_000, 10, 2_000, 5
    print_header(args, uses_db=True)
    timings: dict[str, list[float]] = {}
    User.objects.filter(email=EMAIL).delete()
    print(f"database: {connection.vendor}; {args.trades} trades, {args.positions} open positions…", flush=True)
    started = time.perf_counter()
    user = setup(args.trades, args.positions, args.snapshots)
    print(f"set up in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        client = Client()
        client.force_login(user)
        pages = {
            "dashboard": ("/trading/dashboard/", {}),
            "part: stats": ("/trading/dashboard/?part=stats", {"HTTP_HX_REQUEST": "true"}),
            "part: positions": ("/trading/dashboard/?part=positions", {"HTTP_HX_REQUEST": "true"}),
            "part: activity": ("/trading/dashboard/?part=activity", {"HTTP_HX_REQUEST": "true"}),
            "part: analysis": ("/trading/dashboard/?part=analysis", {"HTTP_HX_REQUEST": "true"}),
            "positions page": ("/trading/positions/", {}),
            "positions table": ("/trading/positions/table/", {"HTTP_HX_REQUEST": "true"}),
        }
        print(f"{'page':<18}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}")
        with clock.pinned(clock.Pin(time=NOW, price=lambda exchange, symbol: D(60_000))):
            for name, (url, headers) in pages.items():
                for _ in range(2):
                    assert client.get(url, **headers).status_code == 200
                times = []
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    client.get(url, **headers)
                    times.append((time.perf_counter() - began) * 1000)
                with CaptureQueriesContext(connection) as queries:
                    client.get(url, **headers)
                timings[name] = list(times)
                times.sort()
                p95 = times[max(0, int(len(times) * 0.95) - 1)]
                print(f"{name:<18}{statistics.median(times):>9.1f}{p95:>9.1f}{len(queries.captured_queries):>9}")
    finally:
        User.objects.filter(email=EMAIL).delete()
    for name, values in timings.items():
        report(name, values, "ms")


if __name__ == "__main__":
    main()
