#!/usr/bin/env python
"""The exchange fault run at scale: 10,000 orders from bots and TradingView alerts at a 12 % fault rate.

Not a test (``tests/trading/test_exchange_fault_plan.py`` runs the same plan with 300 orders in CI). It builds a
database of its own (Django's test database for DATABASE_URL, named by TEST_DATABASE_NAME, created, migrated and
dropped again), starts a fleet of fake Binance accounts on 127.0.0.1 (``tests/trading/fault_plan.py``) whose
requests meet the seeded fault plan, and runs ``tests/trading/fault_run.py``: bots tick through the Celery task
(eagerly, with its retries, caught up by ``loop.catch_up``), alerts go through the receiver's view and its task
(re-enqueued by ``events_sweep``), reconciliation runs every few candles, changes made outside Trendy happen
between candles. At the end every order, position and user-visible failure is checked against the fake
exchange's own books, and the counts are printed:

orders intended, venue orders, duplicates (by client order id and by intent), lost, positions reconciled or
mismatched, failures shown to users with and without an explanation, the faults by kind, the wall time.

Exit status 1 when any duplicate, loss, mismatch or unexplained failure was found. TEST_DATABASE_NAME defaults
to ``test_faults_bench`` here (never the test suite's own ``test_<name>``).

``--quick`` (``make bench-quick``): 120 orders with the CI test's fleet (4 perpetual + 2 spot bots, 2 + 1
webhook endpoints) instead of 10,000 with 12 + 4 bots and 6 + 2 endpoints; about 40 s with the database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres TEST_DATABASE_NAME=test_faults_bench \\
        REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python benchmarks/exchange_faults.py --orders 10000
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
os.environ.setdefault("TEST_DATABASE_NAME", "test_faults_bench")  # a database of its own, not the suite's
warnings.filterwarnings("ignore", message="TRENDY_ENCRYPTION_KEYS is not set")

import django  # noqa: E402

django.setup()

import pytest  # noqa: E402
from _common import print_header  # noqa: E402
from _common import report as result  # noqa: E402 - "report" is the fault run's report here
from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402

from tests.trading.fault_run import FaultRunConfig, run_faults  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000, help="Trendy orders to place (default 10,000)")
    parser.add_argument("--rate", type=float, default=0.12, help="share of requests that meet a fault")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--swap-bots", type=int, default=12)
    parser.add_argument("--spot-bots", type=int, default=4)
    parser.add_argument("--swap-hooks", type=int, default=6)
    parser.add_argument("--spot-hooks", type=int, default=2)
    parser.add_argument("--outside-rate", type=float, default=0.05, help="per account and candle")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--quick", action="store_true", help="120 orders with the CI test's fleet")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.swap_bots, args.spot_bots, args.swap_hooks, args.spot_hooks = 120, 4, 2, 2, 1
    print_header(args, uses_db=True, uses_redis=True)
    print(f"test database: {os.environ['TEST_DATABASE_NAME']}", flush=True)
    # The run's thousands of warnings (a protective order that failed, a bot's failure streak) are its subject,
    # not news: the counts at the end say what happened.
    logging.disable(logging.WARNING)
    config = FaultRunConfig(
        orders=args.orders,
        seed=args.seed,
        rate=args.rate,
        swap_bots=args.swap_bots,
        spot_bots=args.spot_bots,
        swap_hooks=args.swap_hooks,
        spot_hooks=args.spot_hooks,
        outside_rate=args.outside_rate,
        progress=True,
    )
    setup_test_environment(debug=False)
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            report = run_faults(config, monkeypatch)
    finally:
        if not args.keep:
            teardown_databases(databases, verbosity=0)
    print("\n".join(report.lines()))
    problems = report.problems()
    for problem in problems:
        print("PROBLEM:", problem)
    print()
    result("wall time", report.wall_s, "s")
    result("orders intended", report.orders_total, "")
    result("orders per second", report.orders_total / report.wall_s if report.wall_s else 0.0, "orders/s")
    result("exchange requests", report.requests, "")
    result("fault rate", 100 * report.fault_rate, "%")
    result("problems", len(problems), "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
