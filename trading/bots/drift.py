"""Strategy drift (issue 19): a running bot whose live results drift from its backtest (``strategy_drift``).

The rule, modest on purpose: a running bot with at least ``MIN_TRADES`` closed positions, and a finished backtest of
the same owner, strategy, parameters, market and timeframe with at least ``MIN_TRADES`` trades (the latest such
run). Its live win rate (closed positions with a realised PnL above 0) is compared with the backtest's win rate by
a two-proportion z-test (pooled standard error, so that both samples' sizes count); at ``SIGMAS`` standard errors
or more either way the owner is told, at most once a week per bot (a cache key). The live sample is every closed
position of the bot. The daily task (``trading.daily_summary``) runs it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.db.models import Count, Q

from strategies.models import BacktestRun
from trading import clock
from trading.execution.records import notify
from trading.models import Bot, Position

MIN_TRADES = 20
SIGMAS = 3.0
EVERY = timedelta(days=7)


@dataclass(frozen=True)
class Drift:
    bot: Bot
    run: BacktestRun
    live_trades: int
    live_wins: int
    backtest_trades: int
    backtest_win_rate_pct: float
    z: float

    @property
    def live_win_rate_pct(self) -> float:
        return self.live_wins / self.live_trades * 100


def z_score(wins: int, trades: int, expected_pct: float, expected_trades: int) -> float | None:
    """Two-proportion z: (live rate − backtest rate) / pooled standard error; None when it cannot be computed."""
    if trades <= 0 or expected_trades <= 0:
        return None
    p1, p2 = wins / trades, expected_pct / 100
    pooled = (wins + p2 * expected_trades) / (trades + expected_trades)
    variance = pooled * (1 - pooled) * (1 / trades + 1 / expected_trades)
    if variance <= 0:
        return None
    return (p1 - p2) / math.sqrt(variance)


def _backtest(bot: Bot) -> BacktestRun | None:
    runs = BacktestRun.objects.filter(
        user_id=bot.user_id, kind=BacktestRun.Kind.BACKTEST, status=BacktestRun.Status.DONE, strategy=bot.strategy,
        timeframe=bot.timeframe, symbol__in={bot.symbol, clock.data_symbol(bot.symbol)}, params=bot.params,
    )  # fmt: skip
    return runs.order_by("-finished_at", "-created_at").first()


def drifts() -> list[Drift]:
    """The running bots whose live win rate lies ``SIGMAS`` or more standard errors from their backtest's."""
    live = (
        Position.objects.filter(bot__status=Bot.Status.RUNNING, status=Position.Status.CLOSED)
        .values("bot_id")
        .annotate(n=Count("id"), wins=Count("id", filter=Q(realized_pnl__gt=0)))
        .filter(n__gte=MIN_TRADES)
        .order_by()
    )
    counts = {row["bot_id"]: (row["n"], row["wins"]) for row in live}
    found = []
    for bot in Bot.objects.filter(pk__in=counts).order_by("pk"):
        run = _backtest(bot)
        metrics = run.metrics if run is not None else {}
        rate, trades = metrics.get("win_rate_pct"), int(metrics.get("trades") or 0)
        if rate is None or trades < MIN_TRADES:
            continue
        n, wins = counts[bot.pk]
        z = z_score(wins, n, float(rate), trades)
        if z is not None and abs(z) >= SIGMAS:
            found.append(Drift(bot, run, n, wins, trades, float(rate), z))
    return found


def strategy_drift_tell() -> int:
    """Tell the owners of the drifting bots (``strategy_drift``), at most once a week per bot. How many were told."""
    told = 0
    for drift in drifts():
        if not cache.add(f"trading:strategy-drift:{drift.bot.pk}", 1, timeout=int(EVERY.total_seconds())):
            continue
        notify(
            drift.bot.user_id, "strategy_drift", bot=drift.bot.pk, name=drift.bot.name, backtest=drift.run.pk,
            live_trades=drift.live_trades, live_win_rate_pct=round(drift.live_win_rate_pct, 2),
            backtest_trades=drift.backtest_trades, backtest_win_rate_pct=round(drift.backtest_win_rate_pct, 2),
            z=round(drift.z, 2), sigmas=SIGMAS,
        )  # fmt: skip
        told += 1
    return told
