"""The trading loop: what happens when candles close.

``loop_step(now=T)`` runs for a market-clock time T (a minute on the wall clock, or a replay step):

1. find the running bots whose timeframe has a candle that closed at T;
2. refresh the candles each of those markets needs, once per market (live: ccxt ``fetch_ohlcv``;
   replay: already stored);
3. on the paper exchange, play the closed candle (stops, liquidations, targets against its high and
   low, ordered by a stored lower timeframe) then the new price (the next candle's open), for every
   paper account with a position or a resting order on that market, and snapshot its equity;
4. compute each distinct (strategy, parameters, market) signal once;
5. hand each bot its signal: a task per bot (``run_bot_tick``) claims the candle and trades.

This is the per-bot path: the replay clock's ``replay_tick`` and ``paper_replay`` run it in one process. The
minute's live tick (``trading.tick``) splits the same work across Celery workers (``trading.bots.sharding``
plans it; ``trading.bots.batch`` runs a shard of paper accounts in bulk, with the same rows as this path).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db.models import Q
from django.utils import timezone

from accounts.models import ExchangeAccount
from market_data.selectors import load_candles, to_ms
from market_data.timeframes import TIMEFRAME_MS
from strategies.builtin import get_strategy
from strategies.interface import StrategyError
from trading import clock
from trading.bots import paper_market
from trading.bots import services as bot_services
from trading.bots import tick as ticks
from trading.bots.queues import bot_queue
from trading.exchanges.errors import ExchangeError
from trading.models import Bot, PaperOrder, PaperPosition
from trading_site.dispatch import enqueue as dispatch_task

log = logging.getLogger(__name__)

Dispatch = Callable[[int, datetime, dict[str, bool] | None], Any]


@dataclass
class Candles:
    """Where the loop reads candles: the database, or frames already in memory (a replay)."""

    frames: dict[tuple[str, str, str], pd.DataFrame] = field(default_factory=dict)
    history_start: datetime | None = None  # no candle before this one is visible (a replay's start)

    def window(self, exchange: str, symbol: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        if self.history_start is not None:
            start = max(start, self.history_start)
        frame = self.frames.get((exchange, symbol, timeframe))
        if frame is not None:
            return frame.loc[(frame.index >= start) & (frame.index < end)]
        return load_candles(exchange, symbol, timeframe, start, end)


@dataclass
class StepReport:
    now: datetime
    markets: int = 0
    signals: int = 0
    bots: int = 0
    paper_accounts: int = 0
    errors: list[str] = field(default_factory=list)


def closed_candle_open(now: datetime, timeframe: str) -> datetime | None:
    """The open time of the candle that closed exactly at ``now`` (to the minute), or None."""
    step = TIMEFRAME_MS[timeframe]
    now_ms = to_ms(now) // 60_000 * 60_000
    if now_ms % step:
        return None
    return pd.Timestamp(now_ms - step, unit="ms", tz="UTC").to_pydatetime()


def running_bots(bots: Iterable[Bot] | None = None) -> list[Bot]:
    if bots is not None:
        return list(bots)
    return list(
        Bot.objects.filter(status=Bot.Status.RUNNING, user__auto_trading=True, exchange_account__enabled=True)
        .select_related("exchange_account")
        .order_by("id")
    )


def loop_step(
    *,
    now: datetime,
    dispatch: Dispatch | None = None,
    bots: Iterable[Bot] | None = None,
    candles: Candles | None = None,
    intrabar: Callable[[str, str, datetime, datetime], list[tuple[Decimal, Decimal]]] | None = None,
    paper_accounts: Iterable[ExchangeAccount] | None = None,
    refresh: bool = False,
) -> StepReport:
    candles = candles or Candles()
    report = StepReport(now=now)
    due: dict[str, datetime] = {}
    by_market: dict[tuple[str, str, str], list[Bot]] = defaultdict(list)
    for bot in running_bots(bots):
        if bot.timeframe not in due:
            opened = closed_candle_open(now, bot.timeframe)
            if opened is None:
                continue
            due[bot.timeframe] = opened
        if bot.timeframe in due:
            source = clock.data_exchange(bot.exchange_account.exchange)
            by_market[(source, clock.data_symbol(bot.symbol), bot.timeframe)].append(bot)
    report.markets = len(by_market)

    # 2. refresh candles once per market (live only; a replay reads what is stored)
    if refresh:
        for exchange, symbol, timeframe in by_market:
            market_refresh(exchange, symbol, timeframe, report)

    # 3. the paper exchange plays the closed candle, then the new price
    _paper_step(now, by_market, candles, intrabar, paper_accounts, report)

    # 4. each distinct signal once
    signals: dict[tuple[Any, ...], dict[str, bool] | None] = {}
    for (exchange, symbol, timeframe), market_bots in by_market.items():
        opened = due[timeframe]
        step = timedelta(milliseconds=TIMEFRAME_MS[timeframe])
        groups: dict[tuple[Any, ...], list[Bot]] = defaultdict(list)
        for bot in market_bots:
            groups[(bot.strategy, tuple(sorted(bot.params.items())))].append(bot)
        longest = max(get_strategy(s).lookback(get_strategy(s).validate(dict(p))) for s, p in groups)
        window = candles.window(exchange, symbol, timeframe, opened - step * (longest - 1), opened + step)
        for (slug, params), group in groups.items():
            strategy = get_strategy(slug)
            clean = strategy.validate(dict(params))
            key = (exchange, symbol, timeframe, slug, params)
            try:
                signals[key] = ticks.signal_from_candles(slug, clean, window.iloc[-strategy.lookback(clean) :], opened)
            except StrategyError as exc:
                # A script that cannot run on this candle (its budget, a runtime error) would fail the same way
                # on the next: its bots halt and their owners are told why, rather than silently not trading.
                log.warning("strategy failed: %s", exc, extra={"strategy": slug, "symbol": symbol})
                report.errors.append(f"{slug} {symbol}: {exc}")
                signals[key] = None
                for bot in group:
                    bot_services.bot_halt_for_strategy(bot=bot, exc=exc)  # (nothing when only the time budget ran out)
            except Exception as exc:
                log.exception("signal failed", extra={"strategy": slug, "symbol": symbol})
                report.errors.append(f"{slug} {symbol}: {exc}")
                signals[key] = None
            report.signals += 1
            # 5. each bot gets its signal
            for bot in group:
                signal = signals[key]
                if signal is None:
                    continue
                report.bots += 1
                if dispatch is None:
                    queue = bot_queue(bot.exchange_account.exchange)
                    dispatch_task("trading.run_bot_tick", bot.pk, opened.isoformat(), signal, queue=queue)
                else:
                    dispatch(bot.pk, opened, signal)
    return report


def catch_up(*, now: datetime, dispatch: Dispatch | None = None, grace: timedelta = timedelta(minutes=1)) -> int:
    """Bots that missed their last closed candle (a task lost when the broker restarted, a worker that
    died before it claimed) get it again, at least ``grace`` after the close and before the next one
    closes. The claim makes a duplicate harmless. Returns how many bots were sent."""
    sent = 0
    wall_clock = timezone.now()
    for bot in running_bots():
        if bot.retry_not_before is not None and bot.retry_not_before > wall_clock:
            continue  # backing off after exchange failures: its task tries again when the wait is over
        step = timedelta(milliseconds=TIMEFRAME_MS[bot.timeframe])
        step_ms = TIMEFRAME_MS[bot.timeframe]
        latest = pd.Timestamp(to_ms(now) // step_ms * step_ms - step_ms, unit="ms", tz="UTC").to_pydatetime()
        if bot.last_candle_open is not None and bot.last_candle_open >= latest:
            continue
        if now - (latest + step) < grace:
            continue  # the regular dispatch for this candle may still be on its way
        sent += 1
        if dispatch is None:
            queue = bot_queue(bot.exchange_account.exchange)
            dispatch_task("trading.run_bot_tick", bot.pk, latest.isoformat(), None, queue=queue)
        else:
            dispatch(bot.pk, latest, None)
    return sent


def market_refresh(exchange: str, symbol: str, timeframe: str, report: StepReport) -> None:
    """Fetch the market's latest candles from its exchange; a failure is one line of ``report.errors``."""
    from market_data.exceptions import MarketDataError
    from market_data.services import candles_fetch

    try:
        candles_fetch(exchange=exchange, symbol=symbol, timeframe=timeframe, limit=5)
    except (MarketDataError, TypeError) as exc:
        report.errors.append(f"fetch {exchange} {symbol} {timeframe}: {exc}")


def _paper_step(
    now: datetime,
    by_market: dict[tuple[str, str, str], list[Bot]],
    candles: Candles,
    intrabar: Callable[[str, str, datetime, datetime], list[tuple[Decimal, Decimal]]] | None,
    accounts: Iterable[ExchangeAccount] | None,
    report: StepReport,
) -> None:
    if accounts is None:
        ids = set(PaperPosition.objects.values_list("account_id", flat=True)) | set(
            PaperOrder.objects.filter(status="open").values_list("account_id", flat=True)
        )
        ids |= {b.exchange_account_id for bots in by_market.values() for b in bots if b.exchange_account.is_paper}
        accounts = ExchangeAccount.objects.filter(Q(id__in=ids), enabled=True, exchange=ExchangeAccount.PAPER)
    state = clock.clock()
    for account in accounts:
        report.paper_accounts += 1
        source = clock.data_exchange(account.exchange)

        def candle_for(symbol: str, source: str = source) -> tuple[dict[str, Any], list] | None:
            data_symbol = clock.data_symbol(symbol)
            timeframe = next((tf for (ex, sym, tf) in candles.frames if ex == source and sym == data_symbol), None)
            timeframe = timeframe or (state.timeframe if clock.is_replay() else None)
            if timeframe is None:
                return None  # live: the ticker alone moves the paper exchange
            step = timedelta(milliseconds=TIMEFRAME_MS[timeframe])
            bar = candles.window(source, data_symbol, timeframe, now - step, now)
            if not len(bar) or bar.index[-1] != now - step:
                return None
            row = bar.iloc[-1]
            inside = intrabar(source, symbol, now - step, now) if intrabar else []
            candle = {
                "time": now - step,
                "open": row["open"],
                "high": row["high"],
                "low": row["low"],
                "close": row["close"],
            }
            return candle, inside

        try:
            paper_market.paper_step(account=account, now=now, candle_for=candle_for)
        except ExchangeError as exc:
            report.errors.append(f"paper {account.pk}: {exc.message}")
