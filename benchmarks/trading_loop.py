#!/usr/bin/env python
"""Benchmark the trading loop at scale, on real Celery workers: one tick of N paper bots over M markets and
the six strategies, run by 1 then 2 worker processes (``celery worker --pool solo -Q trading.paper``, each
pinned to its own core with ``taskset`` when there are enough cores).

Setup (not timed): candles for M markets under the scratch data exchange "bench" (the five real Binance 1h
files, and for M > 5 copies of them under made-up symbols SYN05/USDT…: synthetic, only to have more markets),
N users each with a paper account and a bot (markets and strategies in turn, default parameters, direction
both), and a share ``--holding`` of them (40 %: the share of time backtests hold a position) already holding a
long opened on the seed candle with its stop loss and take profit resting — one real trade per market through
the live path, its rows copied to the other holding bots of that market. The market clock is put on replay
at each tick's close (its prices are the stored candles'; the closed candle plays against the stops).

Timed, for each worker count: ``--ticks`` consecutive candle closes; each from sending ``trading.loop_start``
(the beat's tick does the same) until its ``LoopTick`` is finished (the plan, the signal chord, the shards).
One run at a time per PostgreSQL server (an advisory lock): two would share the queue and wipe each other's
rows. Before each worker count the state is seeded again identically, so both counts run the same candles on the
same books; each worker computes signals once before timing (the kernels load). Prints the median, the
slowest, the phases (plan, signals, and per shard: read, paper step, claim, held, decide, risk, per-bot
trades) and the speed-up. Target: 10,000 bots over 50 markets in ≤ 10 s on one worker, ≥ 1.8× on two.

    createdb -h 127.0.0.1 -U postgres trendy_loopbench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_loopbench manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_loopbench REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python benchmarks/trading_loop.py            # --quick: 1,000 bots, 10 markets, 1 tick
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
os.environ["TRENDY_PAPER_DATA_EXCHANGE"] = "bench"  # the workers read it too
warnings.filterwarnings("ignore", message="TRENDY_ENCRYPTION_KEYS is not set")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import print_header, report  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.models import ExchangeAccount, RiskProfile, User  # noqa: E402
from market_data.csv_import import read_candle_csv  # noqa: E402
from market_data.models import Candle  # noqa: E402
from market_data.selectors import to_ms  # noqa: E402
from market_data.services import candles_upsert  # noqa: E402
from strategies.builtin import REGISTRY  # noqa: E402
from trading import clock  # noqa: E402
from trading.bots import tick as ticks  # noqa: E402
from trading.models import (  # noqa: E402
    Bot,
    LoopTick,
    MarketClock,
    Order,
    PaperOrder,
    PaperPosition,
    PaperWallet,
    Position,
    Trade,
)
from trading_site.celery import app  # noqa: E402

EXCHANGE = "bench"
REAL = ["BTC", "ETH", "SOL", "BNB", "XRP"]
SEED = "2024-06-10T00:00:00Z"  # the candle the holding bots opened on; the timed ticks are the next ones
HOUR = timedelta(hours=1)
LONG = {"long_entry": True, "long_exit": False, "short_entry": False, "short_exit": False}
QUEUE = "trading.paper"
UNUSABLE = "!"  # Django's mark of an unusable password (no hashing for 10,000 users)


def seed_candles(markets: int, seed: object) -> list[str]:
    start, end = to_ms(seed) - 400 * 3_600_000, to_ms(seed) + 48 * 3_600_000
    symbols = []
    for k in range(markets):
        base = REAL[k % len(REAL)]
        symbol = f"{base}/USDT" if k < len(REAL) else f"SYN{k:02d}/USDT"
        batch = read_candle_csv(settings.TRENDY_OHLCV_DIR / f"binance_{base}USDT_1h.csv.gz", timeframe="1h")
        keep = (batch.time_ms >= start) & (batch.time_ms < end)
        batch = replace(
            batch,
            **{name: getattr(batch, name)[keep] for name in ("time_ms", "open", "high", "low", "close", "volume")},
        )
        candles_upsert(exchange=EXCHANGE, symbol=symbol, timeframe="1h", candles=batch)
        symbols.append(symbol)
    for market_type in ("spot", "swap"):  # the paper exchange lists the markets just stored
        cache.delete_many([f"trading:paper-markets:{EXCHANGE}:{market_type}:{exact}" for exact in (False, True)])
    return symbols


def wipe() -> None:
    """Empty the scratch database's trading and user tables (refuses any database not named *bench*)."""
    name = connection.settings_dict["NAME"]
    if "bench" not in name:
        raise SystemExit(f"refusing to wipe {name!r}: not a benchmark database")
    tables = [m._meta.db_table for m in (Bot, Order, Trade, Position, PaperOrder, PaperPosition, PaperWallet, LoopTick)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}, {User._meta.db_table} CASCADE")
        cursor.execute("TRUNCATE trading_equitysnapshot, trading_orderevent CASCADE")
    MarketClock.objects.all().delete()
    clock._forget()


def seed_bots(count: int, symbols: list[str], holding: float, seed_open: object) -> dict[str, int]:
    slugs = sorted(REGISTRY)
    users = User.objects.bulk_create(
        User(email=f"loop-{n}@bench.invalid", auto_trading=True, password=UNUSABLE) for n in range(count)
    )
    RiskProfile.objects.bulk_create(RiskProfile(user=u, leverage=3, position_size_pct=Decimal(20)) for u in users)
    accounts = ExchangeAccount.objects.bulk_create(
        ExchangeAccount(user=u, exchange="paper", label="bench", paper_balance=Decimal(10_000)) for u in users
    )
    bots = Bot.objects.bulk_create(
        Bot(
            user=u,
            exchange_account=a,
            name=f"bench {n}",
            strategy=slugs[n % len(slugs)],
            params={},
            symbol=symbols[n % len(symbols)],
            timeframe="1h",
            direction="both",
            leverage=3,
            position_size_pct=Decimal(20),
            status=Bot.Status.RUNNING,
            last_candle_open=seed_open,
        )
        for n, (u, a) in enumerate(zip(users, accounts, strict=True))
    )
    tenths = round(holding * 10)
    holders: dict[str, list[Bot]] = {}
    for n, bot in enumerate(bots):
        if n // len(symbols) % 10 < tenths:  # the share of each market's bots that hold
            holders.setdefault(bot.symbol, []).append(bot)
    close = seed_open + HOUR
    with clock.pinned(clock.Pin(time=close, price=lambda ex, s: clock.replay_price(EXCHANGE, s, close, "1h"))):
        for group in holders.values():
            Bot.objects.filter(pk=group[0].pk).update(last_candle_open=seed_open - HOUR)
            assert ticks.bot_tick(bot_id=group[0].pk, candle_open=seed_open, signal=LONG).outcome == "traded"
            clone(group[0], group[1:])
    return {"bots": len(bots), "holding": sum(len(g) for g in holders.values())}


def clone(template: Bot, others: list[Bot]) -> None:
    """Give ``others`` the template bot's position, orders, fills and paper book (as if each had traded)."""
    account = template.exchange_account_id
    wallet = PaperWallet.objects.get(account_id=account)
    PaperWallet.objects.bulk_create(
        PaperWallet(account_id=b.exchange_account_id, balance=wallet.balance, next_order_seq=wallet.next_order_seq,
                    leverage=wallet.leverage, fee_rate=wallet.fee_rate, slippage_bps=wallet.slippage_bps)
        for b in others
    )  # fmt: skip
    for model in (PaperPosition, PaperOrder):
        rows = list(model.objects.filter(account_id=account).values())
        model.objects.bulk_create(
            model(**{**row, "id": None, "account_id": b.exchange_account_id}) for b in others for row in rows
        )
    position = Position.objects.filter(bot_id=template.pk).values().get()
    positions = Position.objects.bulk_create(
        Position(**{**position, "id": None, "bot_id": b.pk, "exchange_account_id": b.exchange_account_id,
                    "user_id": b.user_id}) for b in others
    )  # fmt: skip
    orders = list(Order.objects.filter(bot_id=template.pk).order_by("id").values())
    made = Order.objects.bulk_create(
        Order(**{**o, "id": None, "bot_id": b.pk, "exchange_account_id": b.exchange_account_id, "user_id": b.user_id,
                 "position_id": p.pk if o["position_id"] else None})
        for b, p in zip(others, positions, strict=True) for o in orders
    )  # fmt: skip
    trade = Trade.objects.filter(bot_id=template.pk).values().get()
    entry = next(k for k, o in enumerate(orders) if o["id"] == trade["order_id"])
    Trade.objects.bulk_create(
        Trade(**{**trade, "id": None, "bot_id": b.pk, "exchange_account_id": b.exchange_account_id,
                 "user_id": b.user_id, "position_id": p.pk, "order_id": made[n * len(orders) + entry].pk})
        for n, (b, p) in enumerate(zip(others, positions, strict=True))
    )  # fmt: skip
    risk = Bot.objects.filter(pk=template.pk).values("peak_equity", "day_start", "day_start_equity").get()
    Bot.objects.filter(pk__in=[b.pk for b in others]).update(**risk)


def start_workers(count: int, log_dir: Path) -> list[subprocess.Popen]:
    cores = os.cpu_count() or 1
    procs = []
    for k in range(count):
        command = [str(ROOT / ".venv/bin/celery"), "-A", "trading_site", "worker", "--pool", "solo", "-Q", QUEUE,
                   "-n", f"loopbench{k}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                   "-l", "warning"]  # fmt: skip
        if cores >= count:
            command = ["taskset", "-c", str(k % cores), *command]
        log = open(log_dir / f"loopbench-worker{k}.log", "w")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()))
    names = {f"loopbench{k}@{os.uname().nodename}" for k in range(count)}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        answered = {name for reply in app.control.ping(timeout=1.0) or [] for name in reply}
        if names <= answered:
            return procs
    stop_workers(procs)
    raise SystemExit("the workers did not answer within 90 s (see var/loopbench-worker*.log)")


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def purge() -> None:
    with app.connection_for_write() as conn:
        for queue in (QUEUE, "celery"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001, S112 (a queue never declared: nothing to purge)
                continue


def warm(workers: int, symbols: list[str], seed_open: object) -> None:
    """Each worker computes signals once (the compiled kernels load) before anything is timed."""
    due = {"1h": seed_open.isoformat()}
    markets = [["bench", s, "1h", [[slug, {}] for slug in sorted(REGISTRY)]] for s in symbols[:5]]
    results = [app.send_task("trading.loop_signals", args=(due, markets), queue=QUEUE) for _ in range(workers * 3)]
    for result in results:
        result.get(timeout=120)


def run_tick(now: object) -> tuple[float, LoopTick]:
    MarketClock.objects.update_or_create(
        id=1, defaults={"mode": "replay", "timeframe": "1h", "cursor": now, "start": now}
    )
    clock._forget()
    began = time.perf_counter()
    app.send_task("trading.loop_start", args=(now.isoformat(),), queue=QUEUE)
    deadline = began + 600
    while time.perf_counter() < deadline:
        tick = LoopTick.objects.filter(candle_time=now, finished_at__isnull=False).first()
        if tick is not None:
            return time.perf_counter() - began, tick
        time.sleep(0.02)
    raise SystemExit(f"the tick of {now} did not finish within 10 minutes")


def phases_line(tick: LoopTick) -> str:
    shards = [v for k, v in tick.phases.items() if k.startswith("shard_")]
    coordinator = tick.phases.get("coordinator", {})
    parts = [f"plan {coordinator.get('plan_ms', 0):.0f} ms", f"signals {coordinator.get('signals_ms', 0):.0f} ms"]
    for name in ("read", "paper_step", "claim", "held", "decide", "risk", "per_bot", "plain", "total"):
        values = [s.get(name, 0) for s in shards]
        if values:
            parts.append(f"{name} Σ{sum(values):.0f}/max {max(values):.0f} ms")
    parts.append(f"bots per bot {sum(s.get('per_bot_bots', 0) for s in shards)}")
    parts.append(f"plain ticks in bulk {sum(s.get('plain_bots', 0) for s in shards)} (inside per_bot)")
    return "; ".join(parts)


def profile_tick(args: argparse.Namespace, symbols: list[str], seed_open: object) -> None:
    """The second candle's tick in this process (plan, each market's signals, every shard in turn), under cProfile
    with the SQL statements counted: the functions that take the time, by own time and with what they call."""
    import cProfile
    import pstats

    from trading.bots import batch, sharding

    seeded = seed_bots(args.bots, symbols, args.holding, seed_open)
    print(f"\nseeded {seeded}", flush=True)
    now = seed_open + HOUR * 2
    MarketClock.objects.update_or_create(
        id=1, defaults={"mode": "replay", "timeframe": "1h", "cursor": now, "start": now}
    )
    clock._forget()
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    for (source, symbol, timeframe), groups in sharding.plan(now).markets.items():  # the kernels compile (numba)
        sharding.market_signals(source, symbol, timeframe, seed_open, list(groups.values()))
    profiler = cProfile.Profile()
    began = time.perf_counter()
    with connection.execute_wrapper(count):
        profiler.enable()
        planned = sharding.plan(now)
        signals: dict[str, Any] = {}
        for (source, symbol, timeframe), groups in planned.markets.items():
            opened = planned.due[timeframe]
            signals.update(sharding.market_signals(source, symbol, timeframe, opened, list(groups.values())))
        reports = [
            batch.shard_step(
                now=now, shard=shard, shards=args.shards, due=planned.due, signals=signals,
                candle_for=sharding.candle_lookup(now), chunk_size=args.chunk,
            )
            for shard in range(args.shards)
        ]  # fmt: skip
        profiler.disable()
    seconds = time.perf_counter() - began
    phases: dict[str, float] = defaultdict(float)
    for part in reports:
        for name, ms in part.phases.items():
            phases[name] += ms
    per_bot = sum(r.per_bot for r in reports)
    plain = sum(r.plain for r in reports)
    claimed = sum(r.claimed for r in reports)
    print(
        f"tick {now:%Y-%m-%d %H:%M} in one process under cProfile: {seconds:.2f} s, {statements[0]} statements, "
        f"{claimed} bots claimed, {plain} plain ticks in bulk, {per_bot} through the per-bot code",
        flush=True,
    )
    print("phases (ms, under the profiler): " + ", ".join(f"{k} {v:.0f}" for k, v in phases.items()), flush=True)
    profiler.dump_stats(ROOT / "var" / "trading_loop.prof")
    print(f"profile written to {ROOT / 'var' / 'trading_loop.prof'} (python -m pstats)")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=10_000)
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--holding", type=float, default=0.4)
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--quick", action="store_true", help="1,000 bots over 10 markets, 1 tick")
    parser.add_argument(
        "--profile", action="store_true", help="one tick in this process under cProfile: where the time goes"
    )
    args = parser.parse_args()
    if args.quick:
        args.bots, args.markets, args.ticks = 1000, 10, 1
    args.shards, args.chunk = settings.TRENDY_LOOP_SHARDS, settings.TRENDY_LOOP_CHUNK
    args.signal_tasks = settings.TRENDY_LOOP_SIGNAL_TASKS
    print_header(args, uses_db=True, uses_redis=True)
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("REDIS_URL is needed: the workers take the tick from a Redis broker")
    with connection.cursor() as cursor:  # one run at a time on this server: two would share the queue and wipe
        cursor.execute("SELECT pg_try_advisory_lock(hashtext('trendy benchmarks/trading_loop.py'))")
        if not cursor.fetchone()[0]:
            raise SystemExit("another trading_loop.py run holds the lock on this PostgreSQL server: try again later")
    log_dir = ROOT / "var"
    log_dir.mkdir(exist_ok=True)
    seed_open = pd.Timestamp(SEED).to_pydatetime()
    wipe()
    Candle.objects.filter(exchange=EXCHANGE).delete()
    symbols = seed_candles(args.markets, seed_open)
    if args.profile:
        try:
            profile_tick(args, symbols, seed_open)
        finally:
            wipe()
            Candle.objects.filter(exchange=EXCHANGE).delete()
        return
    medians: dict[int, float] = {}
    try:
        for workers in [int(w) for w in args.workers.split(",")]:
            wipe()
            began = time.perf_counter()
            seeded = seed_bots(args.bots, symbols, args.holding, seed_open)
            print(f"\n{workers} worker(s): seeded {seeded} in {time.perf_counter() - began:.1f} s", flush=True)
            purge()
            procs = start_workers(workers, log_dir)
            try:
                warm(workers, symbols, seed_open)
                timings = []
                for k in range(args.ticks):
                    now = seed_open + HOUR * (k + 2)
                    seconds, tick = run_tick(now)
                    timings.append(seconds)
                    opened = now - HOUR
                    orders = Order.objects.filter(candle_open=opened).count()
                    trades = Trade.objects.filter(time__gte=now, time__lt=now + HOUR).count()
                    print(
                        f"  tick {k + 1} ({now:%Y-%m-%d %H:%M}): {seconds:.2f} s, {tick.bots} bots claimed, "
                        f"{orders} bot orders, {trades} fills, {tick.shards_total} shards",
                        flush=True,
                    )
                    print(f"    phases: {phases_line(tick)}", flush=True)
                medians[workers] = statistics.median(timings)
                report(f"tick, {workers} worker(s), {args.bots} bots", timings, "s")
            finally:
                stop_workers(procs)
                purge()
    finally:
        wipe()
        Candle.objects.filter(exchange=EXCHANGE).delete()
    if 1 in medians and 2 in medians:
        print(f"result  speed-up with 2 workers: {medians[1] / medians[2]:.2f}x (target ≥ 1.8x)")
    if 1 in medians:
        print(f"result  1 worker: median {medians[1]:.2f} s for {args.bots} bots (target ≤ 10 s at 10,000)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
