#!/usr/bin/env python
"""Benchmark one trading-loop tick: N running paper bots over M markets, decided on one process.

Setup (not timed): candles for M markets under the scratch data exchange "bench" — the five real
Binance 1h files, and for M > 5 copies of them under made-up symbols (SYN01/USDT…: synthetic, only
to have more markets), N users each with a paper account and a bot spread over the markets and the
six strategies (default parameters). Timed: ``loop.loop_step`` for one closed candle — the paper
step, one signal computation per (strategy, market), and ``ticks.bot_tick`` for every bot run
in this process (what one worker process would do with the per-bot tasks). Repeated for REPEAT
consecutive candles; prints the median and the slowest. Everything it created is deleted at the end.
Target: 1,000 bots over 20 markets within one minute.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python benchmarks/trading_loop.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
warnings.filterwarnings("ignore", message="TRENDY_ENCRYPTION_KEYS is not set")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from accounts.models import ExchangeAccount, RiskProfile, User  # noqa: E402
from market_data.csv_import import read_candle_csv  # noqa: E402
from market_data.models import Candle  # noqa: E402
from market_data.selectors import load_candles  # noqa: E402
from market_data.services import candles_upsert  # noqa: E402
from strategies.builtin import REGISTRY  # noqa: E402
from strategies.warmup import warm_up  # noqa: E402
from trading import clock  # noqa: E402
from trading.bots import loop  # noqa: E402
from trading.bots import tick as ticks  # noqa: E402
from trading.models import Bot  # noqa: E402

EXCHANGE = "bench"
REAL = ["BTC", "ETH", "SOL", "BNB", "XRP"]
START = "2024-06-01T00:00:00Z"


def setup(markets: int, bots: int) -> tuple[list[str], list[int]]:
    symbols = []
    for k in range(markets):
        base = REAL[k % len(REAL)]
        symbol = f"{base}/USDT" if k < len(REAL) else f"SYN{k:02d}/USDT"
        batch = read_candle_csv(settings.TRENDY_OHLCV_DIR / f"binance_{base}USDT_1h.csv.gz", timeframe="1h")
        candles_upsert(exchange=EXCHANGE, symbol=symbol, timeframe="1h", candles=batch)
        symbols.append(symbol)
    slugs = list(REGISTRY)
    ids = []
    for n in range(bots):
        user = User.objects.create_user(email=f"bench-{n}@bench.invalid", password=None, auto_trading=True)
        RiskProfile.objects.update_or_create(user=user, defaults={"leverage": 3, "position_size_pct": Decimal(20)})
        account = ExchangeAccount.objects.create(
            user=user, exchange="paper", label="bench", paper_balance=Decimal(10_000)
        )
        bot = Bot.objects.create(
            user=user,
            exchange_account=account,
            name=f"bench {n}",
            strategy=slugs[n % len(slugs)],
            params={},
            symbol=symbols[n % len(symbols)],
            timeframe="1h",
            direction="both",
            status=Bot.Status.RUNNING,
        )
        ids.append(bot.pk)
    return symbols, ids


def teardown() -> None:
    User.objects.filter(email__endswith="@bench.invalid").delete()
    Candle.objects.filter(exchange=EXCHANGE).delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    teardown()
    print(f"database: {connection.vendor}; setting up {args.bots} bots over {args.markets} markets…", flush=True)
    warm_up()
    with override_settings(TRENDY_PAPER_DATA_EXCHANGE=EXCHANGE):
        try:
            symbols, _ids = setup(args.markets, args.bots)
            start = load_candles(EXCHANGE, symbols[0], "1h", START, None, limit=None).index[0].to_pydatetime()
            timings, counts = [], []
            for k in range(args.repeat):
                now = start + timedelta(hours=k + 1)
                frame = load_candles(EXCHANGE, symbols[0], "1h", now, now + timedelta(hours=1))
                opens = {}

                def price(_exchange: str, symbol: str, now=now, opens=opens) -> Decimal:
                    key = (symbol, now)
                    if key not in opens:
                        opens[key] = clock.replay_price(EXCHANGE, symbol, now, "1h")
                    return opens[key]

                outcomes: dict[str, int] = {}

                def dispatch(bot_id, opened, signal, outcomes=outcomes) -> None:
                    result = ticks.bot_tick(bot_id=bot_id, candle_open=opened, signal=signal)
                    outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1

                assert len(frame)
                with clock.pinned(clock.Pin(time=now, price=price)):
                    began = time.perf_counter()
                    report = loop.loop_step(now=now, dispatch=dispatch)
                    seconds = time.perf_counter() - began
                timings.append(seconds)
                counts.append(report.bots)
                print(
                    f"tick {k + 1}: {seconds:.2f} s, {report.bots} bots, {report.signals} signals, "
                    f"{report.paper_accounts} paper accounts, outcomes {outcomes}, errors {len(report.errors)}",
                    flush=True,
                )
            print(
                f"median {statistics.median(timings):.2f} s, slowest {max(timings):.2f} s for "
                f"{statistics.median(counts):.0f} bots over {args.markets} markets (target < 60 s)"
            )
        finally:
            teardown()


if __name__ == "__main__":
    main()
