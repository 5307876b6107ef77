#!/usr/bin/env python
"""Benchmark the in-app notifications of a heavy user: the API list and unread count, the list page and the bell,
with 100,000 notifications of one user on the database of DATABASE_URL. Target: p95 < 50 ms for each request.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python benchmarks/notifications_list.py [--quick] [--explain] [--strict] [--clean]

Seeding (idempotent: a run that finds the rows of the same size reuses them, otherwise it deletes and remakes
them): a scratch user ``bench-notif-0@bench.invalid`` with ``--rows`` notifications (100,000) and ``--others``
users (5) with a tenth as many each (10,000), so the table and its indexes are not one user's alone. The rows go
in by ``COPY`` (the models' columns; no ``accounts.events`` listener, no stream publication), all users' rows
interleaved in time order over the year to 2025-06-01, as a live table fills (ids follow ``created_at``). Kinds in
a realistic mix of ``notifications.catalog.KINDS`` (mostly fills, then stop loss / take profit hits, bot changes,
rejections, a few marketplace and channel ones), each with the data its emitter sends (a fill:
``{"order", "symbol", "side", "amount", "price", "realized_pnl", "reason"}``, decimals as strings) and the kind's
default severity; about 5 % unread, spread over the whole history (the worst case for the unread list: no run of
unread rows at the top). Then ``VACUUM ANALYZE`` of the table (a live one is autovacuumed: statistics and the
visibility map that index-only scans need).

Measuring (in this process, no network: the middleware, authentication, the view, the queries, the serializer or
template; DEBUG off; the API's per-user throttle raised, its check still made): with a real API token through
DRF's ``APIClient``, ``GET /api/v1/notifications`` (the first page), the same with ``cursor`` = an id 90 % down
the user's history (a deep page), with ``unread=true``, and ``GET /api/v1/notifications/unread-count``; signed in
(``force_login``) through Django's test client, the list page ``/notifications/`` and the bell fragment
``/notifications/bell/`` (htmx). After 5 warm-up rounds, ``--repeat`` rounds (200) of the six requests in turn,
with the time spent in the database per request (``connection.execute_wrapper``); then each once more with its
queries captured (the API token's once-a-minute last-use UPDATE left out). Then the same user after
``POST /api/v1/notifications/mark-read {"all": true}`` (timed once), in a transaction rolled back at the end: the
unread list, the count, the page and the bell again with no unread row (the dead row versions and index entries of
the UPDATE still there, as until the next autovacuum) — the case where a list filtered on unread rows can read
every row of the user.

Prints a markdown table (median, p95, SQL, queries, PASS/FAIL against 50 ms p95), ``result`` lines, and
``result  target p95 < 50 ms …: PASS|FAIL``. A request over the target gets EXPLAIN (ANALYZE, BUFFERS) of its
notification queries; ``--explain`` prints them for every request. ``--strict``: exit 1 when a p95 misses the
target. ``--clean``: delete the rows at the end (otherwise they stay for the next run).

Full size: 100,000 + 5 x 10,000 rows, 200 rounds (about a minute on 2 cores once seeded; seeding ~20 s).
``--quick``: 10,000 + 5 x 1,000 rows, 50 rounds (a few seconds).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
# The API's per-user throttle (600/min) would answer 429 to a benchmark; its check still runs on every request.
os.environ.setdefault("API_THROTTLE_USER", "1000000/min")
warnings.filterwarnings("ignore", message="TRENDY_ENCRYPTION_KEYS is not set")

import django  # noqa: E402

django.setup()

from _common import percentile, print_header, report  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import api_token_issue  # noqa: E402
from notifications import catalog  # noqa: E402
from notifications.models import Notification  # noqa: E402

TARGET_MS = 50.0
EMAIL = "bench-notif-{}@bench.invalid"
DOMAIN = "@bench.invalid"
END = datetime(2025, 6, 1, tzinfo=UTC)
SPAN = timedelta(days=365)
UNREAD = 0.05
WARM_UP = 5
TABLE = Notification._meta.db_table

# How often each kind occurs (per 1,000), and the data its emitter sends.
MIX = {
    "order_filled": 560, "stop_loss_hit": 70, "take_profit_hit": 80, "order_rejected": 40, "bot_status": 70,
    "auto_trading": 15, "bot_sizes": 15, "position_changed_outside": 20, "unprotected_position_closed": 5,
    "stop_loss": 45, "take_profit": 45, "marketplace.subscription_ended": 10, "marketplace.new_version": 20,
    "notifications.channel_disabled": 5,
}  # fmt: skip
SYMBOLS = {"BTC/USDT": (43000.5, "0.01"), "ETH/USDT": (2250.25, "0.2"), "SOL/USDT": (98.41, "5"),
           "BNB/USDT": (310.7, "1.5"), "XRP/USDT": (0.6123, "800"), "DOGE/USDT": (0.0845, "5000")}  # fmt: skip


def _data(kind: str, rng: random.Random, k: int) -> dict[str, Any]:
    if kind in ("order_filled", "stop_loss_hit", "take_profit_hit", "order_rejected"):
        symbol = rng.choices(list(SYMBOLS), weights=(40, 25, 15, 8, 7, 5))[0]
        base, amount = SYMBOLS[symbol]
        price = f"{base * rng.uniform(0.7, 1.3):.{6 if base < 1 else 2}f}"
        side = rng.choice(("buy", "sell"))
        if kind == "order_rejected":
            return {"order": 500_000 + k, "symbol": symbol, "side": side, "amount": amount,
                    "reason": "Insufficient balance for the order.", "error": "InsufficientFunds"}  # fmt: skip
        closes = side == "sell" or kind != "order_filled"
        pnl = f"{rng.gauss(0, 40):.2f}" if closes else None
        reason = {"stop_loss_hit": "stop_loss", "take_profit_hit": "take_profit"}.get(kind, "signal")
        return {"order": 500_000 + k, "symbol": symbol, "side": side, "amount": amount, "price": price,
                "realized_pnl": pnl, "reason": reason}  # fmt: skip
    if kind == "bot_status":
        status = rng.choice(("running", "paused", "stopped", "halted"))
        return {"bot": rng.randint(1, 40), "status": status, "reason": "max_daily_loss" if status == "halted" else ""}
    if kind == "auto_trading":
        return {"enabled": rng.random() < 0.5}
    if kind == "bot_sizes":
        return {"sizes": {str(rng.randint(1, 40)): f"{rng.randint(1, 20)}.00" for _ in range(3)}}
    if kind == "position_changed_outside":
        return {"position": 90_000 + k, "detail": "The exchange reports 0.005 BTC, Trendy expected 0.01 BTC."}
    if kind in ("unprotected_position_closed", "stop_loss", "take_profit"):
        return {"position": 90_000 + k}
    if kind == "marketplace.subscription_ended":
        return {"subscription": f"6f1c2d3e-0000-4000-8000-{k:012d}"}
    if kind == "marketplace.new_version":
        return {"listing": f"7a2b3c4d-0000-4000-8000-{k % 500:012d}", "version": rng.randint(2, 9)}
    return {"channel_kind": rng.choice(("email", "telegram", "slack", "webpush", "fcm")),
            "error": "The recipient's address was rejected (550)."}  # fmt: skip


def _expected(rows: int, others: int) -> list[int]:
    return [rows] + [rows // 10] * others


def _seeded(rows: int, others: int) -> list[User] | None:
    users = []
    for k, count in enumerate(_expected(rows, others)):
        user = User.objects.filter(email=EMAIL.format(k)).first()
        if user is None or Notification.objects.filter(user=user).count() != count:
            return None
        users.append(user)
    if User.objects.filter(email__startswith="bench-notif-", email__endswith=DOMAIN).count() != len(users):
        return None
    return users


def cleanup() -> None:
    users = User.objects.filter(email__startswith="bench-notif-", email__endswith=DOMAIN)
    Notification.objects.filter(user__in=users).delete()
    users.delete()


def seed(rows: int, others: int) -> tuple[list[User], bool]:
    """The users and their notifications: reused when there, else (re)made by COPY. Returns (users, made)."""
    users = _seeded(rows, others)
    if users is not None:
        return users, False
    cleanup()
    rng = random.Random(20250601)  # noqa: S311 - synthetic rows, not secrets
    kinds, weights = list(MIX), list(MIX.values())
    counts = _expected(rows, others)
    users = [User.objects.create_user(email=EMAIL.format(k), password=None) for k in range(len(counts))]
    # every user's rows at random times over the year, all interleaved in time order (ids follow created_at)
    span = SPAN.total_seconds()
    stamps = sorted((rng.random() * span, user.pk) for user, count in zip(users, counts, strict=True)
                    for _ in range(count))  # fmt: skip
    start = END - SPAN
    sql = f"COPY {TABLE} (user_id, kind, severity, data, created_at, read_at) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for k, (offset, user_id) in enumerate(stamps):
            kind = rng.choices(kinds, weights)[0]
            created = start + timedelta(seconds=offset)
            read = None if rng.random() < UNREAD else created + timedelta(minutes=rng.randint(1, 3000))
            data = json.dumps(_data(kind, rng, k), separators=(",", ":"))
            copy.write_row((user_id, kind, catalog.severity(kind), data, created, read))
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    return users, True


class SqlTimer:
    """``connection.execute_wrapper``: the time of every query run while it is installed, in ms."""

    def __init__(self) -> None:
        self.ms = 0.0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms += (time.perf_counter() - began) * 1000


def _explain(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return [line for (line,) in cursor.fetchall()]


def run(state: str, requests: dict[str, Callable[[], Any]], repeat: int, explain: bool) -> list[dict[str, Any]]:
    """Warm up, then ``repeat`` rounds of the requests in turn; then each once with its queries captured, and its
    notification queries EXPLAINed (here: the state is gone once the caller rolls back)."""
    for _ in range(WARM_UP):
        for name, request in requests.items():
            response = request()
            assert response.status_code == 200, (name, response.status_code, response.content[:300])
    gc.collect()  # the seeding's garbage is not the requests' to collect
    times: dict[str, list[float]] = {name: [] for name in requests}
    sql: dict[str, list[float]] = {name: [] for name in requests}
    timer = SqlTimer()
    with connection.execute_wrapper(timer):
        for _ in range(repeat):
            for name, request in requests.items():
                timer.ms = 0.0
                began = time.perf_counter()
                request()
                times[name].append((time.perf_counter() - began) * 1000)
                sql[name].append(timer.ms)
    rows = []
    for name, request in requests.items():
        with CaptureQueriesContext(connection) as captured:
            request()
        queries = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith('UPDATE "accounts_apitoken"')]
        p95 = percentile(times[name], 95)
        plans = []
        if explain or p95 >= TARGET_MS:
            plans = [(query, _explain(query)) for query in queries if TABLE in query]
        rows.append({"state": state, "name": name, "times": times[name], "sql": sql[name], "queries": len(queries),
                     "p95": p95, "plans": plans})  # fmt: skip
    return rows


def measure(user: User, repeat: int, explain: bool) -> tuple[list[dict[str, Any]], float, int]:
    """The requests as seeded (about 5 % unread), then after "mark all read" (in a transaction rolled back at the
    end: the next run finds the rows as seeded). Returns the rows, the mark-all-read time and how many it marked."""
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_issue(user=user, name='notifications bench').key}")
    page = Client()
    page.force_login(user)
    ids = Notification.objects.filter(user=user).order_by("-id").values_list("id", flat=True)
    deep = ids[int(ids.count() * 0.9)]
    url = "/api/v1/notifications"
    lists = {
        "GET /api/v1/notifications (first page)": lambda: api.get(url),
        "GET /api/v1/notifications?cursor= (90 % deep)": lambda: api.get(url, {"cursor": deep}),
    }
    unread = {
        "GET /api/v1/notifications?unread=true": lambda: api.get(url, {"unread": "true"}),
        "GET /api/v1/notifications/unread-count": lambda: api.get(url + "/unread-count"),
    }
    pages = {
        "GET /notifications/ (page)": lambda: page.get("/notifications/"),
        "GET /notifications/bell/ (htmx)": lambda: page.get("/notifications/bell/", HTTP_HX_REQUEST="true"),
    }
    first, deep_page = api.get(url).json(), api.get(url, {"cursor": deep}).json()
    assert len(first["results"]) == 30 and first["next_cursor"], first
    assert len(deep_page["results"]) == 30 and all(row["id"] < deep for row in deep_page["results"])
    unread_page = api.get(url, {"unread": "true"}).json()["results"]
    assert unread_page and all(row["read_at"] is None for row in unread_page)
    count = api.get(url + "/unread-count").json()["unread"]
    print(f"unread: {count:,}; deep cursor: id {deep:,}", flush=True)
    rows = run("as seeded", {**lists, **unread, **pages}, repeat, explain)
    with transaction.atomic():
        began = time.perf_counter()
        response = api.post(url + "/mark-read", {"all": True}, format="json")
        marked_ms = (time.perf_counter() - began) * 1000
        assert response.status_code == 200 and response.json()["unread"] == 0, response.content
        rows += run("all read", {**unread, **pages}, repeat, explain)
        transaction.set_rollback(True)
    return rows, marked_ms, response.json()["marked"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="the heavy user's notifications")
    parser.add_argument("--others", type=int, default=5, help="other users, with a tenth as many each")
    parser.add_argument("--repeat", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE every request's notification queries")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a p95 misses the target")
    parser.add_argument("--clean", action="store_true", help="delete the rows at the end (else the next run reuses)")
    parser.add_argument("--quick", action="store_true", help="10,000 rows (others 1,000), 50 requests")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 10_000, 50
    print_header(args, uses_db=True, uses_redis=True)
    if connection.vendor != "postgresql":
        print("The notifications benchmark needs PostgreSQL: set DATABASE_URL (see the docstring).", file=sys.stderr)
        return 2
    if args.rows < 1000:
        parser.error("--rows: at least 1,000")
    settings.DEBUG = False  # as in production: no query log, no template debug
    settings.ALLOWED_HOSTS = ["testserver"]

    started = time.perf_counter()
    users, made = seed(args.rows, args.others)
    total = Notification.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")  # a previous run's rolled-back "mark all read" left dead rows
        cursor.execute("SELECT pg_total_relation_size(%s), pg_indexes_size(%s)", [TABLE, TABLE])
        size, indexes = cursor.fetchone()
    print(f"{'seeded' if made else 'reused'} in {time.perf_counter() - started:.1f} s: {args.rows:,} notifications "
          f"for the user, {args.others} others with {args.rows // 10:,} each; {total:,} in the table "
          f"({size / 2**20:,.0f} MB, indexes {indexes / 2**20:,.0f} MB)", flush=True)  # fmt: skip
    try:
        rows, marked_ms, marked = measure(users[0], args.repeat, args.explain)
    finally:
        if args.clean:
            cleanup()
            print("deleted the benchmark's rows", flush=True)

    print(f"\n{args.repeat} requests per endpoint after {WARM_UP} warm-ups, in turn; times in ms; SQL: the median "
          "time in the database per request; queries: those of one more request (the API token's last-use UPDATE, "
          "once a minute, left out)\n")  # fmt: skip
    print(f"| unread | request | median ms | p95 ms | SQL ms | queries | p95 < {TARGET_MS:.0f} ms |")
    print("|---|---|---:|---:|---:|---:|---|")
    for row in rows:
        verdict = "PASS" if row["p95"] < TARGET_MS else "**FAIL**"
        print(f"| {row['state']} | {row['name']} | {percentile(row['times'], 50):.1f} | {row['p95']:.1f} "
              f"| {percentile(row['sql'], 50):.2f} | {row['queries']} | {verdict} |")  # fmt: skip
    print(f"\nPOST /api/v1/notifications/mark-read {{\"all\": true}}: {marked:,} marked read in {marked_ms:.0f} ms "
          "(once; not in the target)\n", flush=True)  # fmt: skip
    for row in rows:
        for query, plan in row["plans"]:
            print(f"EXPLAIN (ANALYZE, BUFFERS) of {row['name']} ({row['state']}):\n    {query}")
            print("\n".join(f"      {line}" for line in plan) + "\n", flush=True)
    for row in rows:
        report(f"{row['name']} ({row['state']})", row["times"], "ms")
    report("POST /api/v1/notifications/mark-read all", marked_ms, "ms")
    worst = max(rows, key=lambda row: row["p95"])
    report(f"worst p95 ({worst['name']}, {worst['state']})", worst["p95"], "ms")
    missed = [f"{row['name']} ({row['state']})" for row in rows if row["p95"] >= TARGET_MS]
    verdict = "PASS" if not missed else f"FAIL ({'; '.join(missed)})"
    print(f"result  target p95 < {TARGET_MS:.0f} ms ({args.rows:,} notifications of one user): {verdict}")
    print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
