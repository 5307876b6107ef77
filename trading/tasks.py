"""Thin Celery tasks: take ids, call a service."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Any

from celery import chord, shared_task, signature
from celery.signals import worker_ready
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError

from trading import clock
from trading.bots import batch, loop, sharding
from trading.bots import tick as ticks
from trading.bots.queues import bot_queue
from trading.exchanges.errors import TemporaryError
from trading.execution import positions as position_services
from trading_site import metrics
from trading_site.dispatch import enqueue


@shared_task(name="trading.tick")
def tick() -> dict[str, Any]:
    """Every minute (beat): the candles that just closed, then the loop's tick split across the workers
    (``loop_start``); the catch-up and the watched stops."""
    if clock.is_replay():
        return {"skipped": "the replay clock drives the loop"}
    now = clock.now().replace(second=0, microsecond=0)
    started = loop_start_now(now, refresh=True)
    caught_up = loop.catch_up(now=now)
    watched = position_services.watch_stops(now=now)
    return {**started, "caught_up": caught_up, "stops_closed": watched}


@shared_task(name="trading.loop_start")
def loop_start(now: str) -> dict[str, Any]:
    """The loop's tick for the candle close ``now`` (what ``tick`` does each minute; benchmarks and operators
    send it for a given time)."""
    return loop_start_now(datetime.fromisoformat(now))


def loop_start_now(now: datetime, *, refresh: bool = False) -> dict[str, Any]:
    """Plan the tick (due bots, markets, signal groups) and send a chord: the signals, a slice of markets per
    task, then ``loop_dispatch``. A candle close already started is not run again."""
    began = time.perf_counter()
    record = sharding.tick_start(now)
    if record is None:
        return {"skipped": "already started"}
    planned = sharding.plan(now)
    if refresh:
        for exchange, symbol, timeframe in planned.markets:
            loop.market_refresh(exchange, symbol, timeframe, loop.StepReport(now=now))
    due = {tf: opened.isoformat() for tf, opened in planned.due.items()}
    header = [
        signature("trading.loop_signals", args=(due, part, now.isoformat()))
        for part in sharding.slices(planned.markets, settings.TRENDY_LOOP_SIGNAL_TASKS)
    ]
    plan_ms = round((time.perf_counter() - began) * 1000, 1)
    if not header:
        sharding.tick_phase(record.pk, "plan_ms", plan_ms, shards=0)
        return {"markets": 0, "bots": 0}
    body = signature(
        "trading.loop_dispatch",
        args=(record.pk, now.isoformat(), due, planned.live, sorted(planned.paper_keys), plan_ms, time.time()),
    )
    chord(header)(body)
    return {"markets": len(planned.markets), "bots": planned.bots, "signal_tasks": len(header)}


@shared_task(name="trading.loop_signals")
def loop_signals(due: dict[str, str], markets: list[Any], now: str | None = None) -> dict[str, Any]:
    """The signals of a slice of markets: each (market, timeframe, strategy, parameters) group once; and, given the
    tick's time, each market's closed candle and price for the shards' paper step (``sharding.market_state``)."""
    signals: dict[str, dict[str, bool] | None] = {}
    states: dict[str, Any] = {}
    for source, symbol, timeframe, groups in markets:
        opened = datetime.fromisoformat(due[timeframe])
        signals.update(sharding.market_signals(source, symbol, timeframe, opened, groups))
        if now is not None and f"{source}|{symbol}" not in states:
            states[f"{source}|{symbol}"] = sharding.market_state(source, symbol, datetime.fromisoformat(now))
    return {"signals": signals, "markets": states}


@shared_task(name="trading.loop_dispatch", ignore_result=True)
def loop_dispatch(
    results: list[dict[str, Any]],
    tick_id: int,
    now: str,
    due: dict[str, str],
    live: list[Any],
    paper_keys: list[str],
    plan_ms: float,
    sent_at: float,
) -> dict[str, Any]:
    """The chord's body: live bots get their ``run_bot_tick`` on their exchange's queue (their orders go out
    one by one, each committed before it is sent); the paper accounts are split in ``TRENDY_LOOP_SHARDS``
    shards (a hash of the account id), a ``loop_shard`` task each on ``trading.paper``."""
    signals: dict[str, Any] = {}
    states: dict[str, Any] = {}
    for part in results:
        signals.update(part["signals"])
        states.update(part["markets"])
    for bot_id, exchange, key, opened in live:
        if signals.get(key) is not None:
            enqueue("trading.run_bot_tick", bot_id, opened, signals[key], queue=bot_queue(exchange))
    paper = {key: signals.get(key) for key in paper_keys}
    shards = int(settings.TRENDY_LOOP_SHARDS) if paper else 0
    signals_ms = round((time.time() - sent_at) * 1000, 1)
    sharding.tick_phase(tick_id, "coordinator", {"plan_ms": plan_ms, "signals_ms": signals_ms}, shards=shards)
    for shard in range(shards):
        enqueue("trading.loop_shard", tick_id, now, shard, shards, due, paper, states)
    return {"live": len(live), "shards": shards}


@shared_task(
    name="trading.loop_shard",
    ignore_result=True,
    # A lost database connection: the chunk rolled back; try the shard again (committed chunks are skipped).
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    max_retries=3,
    reject_on_worker_lost=True,
)
def loop_shard(
    tick_id: int,
    now: str,
    shard: int,
    shards: int,
    due: dict[str, str],
    signals: dict[str, Any],
    markets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One shard of the paper accounts (``trading.bots.batch.shard_step``), a transaction per chunk of accounts.
    Acknowledged late: a worker that dies mid-shard leaves it to another, which skips the chunks already
    committed (their bots' claims would refuse them anyway) and does the rest."""
    began = time.perf_counter()
    when = datetime.fromisoformat(now)
    marker = f"trading:loop:{tick_id}:{shard}:{{}}"
    report = batch.shard_step(
        now=when,
        shard=shard,
        shards=shards,
        due={tf: datetime.fromisoformat(opened) for tf, opened in due.items()},
        signals=signals,
        candle_for=sharding.seeded_candles(sharding.candle_lookup(when), markets or {}),
        prices={key: Decimal(state["price"]) for key, state in (markets or {}).items() if "price" in state},
        chunk_size=int(settings.TRENDY_LOOP_CHUNK),
        chunk_is_done=lambda index: cache.get(marker.format(index)) is not None,
        chunk_done=lambda index: cache.set(marker.format(index), 1, 3600),
    )
    phases = {name: round(ms, 1) for name, ms in report.phases.items()}
    phases["total"] = round((time.perf_counter() - began) * 1000, 1)
    phases["bots"], phases["per_bot_bots"], phases["accounts"] = report.bots, report.per_bot, report.accounts
    phases["plain_bots"] = report.plain
    sharding.tick_shard_done(tick_id, shard, phases, report.claimed)
    return {"shard": shard, "bots": report.bots, "claimed": report.claimed, "errors": report.errors[:10]}


@shared_task(name="trading.replay_tick")
def replay_tick() -> dict[str, Any]:
    """Every few seconds (beat) when the clock is on replay: one candle forward, then the loop."""
    moved = clock.replay_advance()
    if moved is None:
        return {"moved": False}
    with metrics.timed(metrics.TICK_DURATION):
        report = loop.loop_step(now=moved)
    return {"moved": moved.isoformat(), "bots": report.bots, "errors": report.errors[:10]}


@shared_task(
    name="trading.run_bot_tick",
    bind=True,
    # The outcome is in the database (and the worker's log); no result means the tick's publisher skips the
    # Redis result backend's SUBSCRIBE for each of its thousand tasks.
    ignore_result=True,
)
def run_bot_tick(self: Any, bot_id: int, candle_open: str, signal: dict[str, bool] | None = None) -> dict[str, Any]:
    """One bot on one closed candle (ids and the signal only: never keys). A transient exchange failure is tried
    again after the bot's own backoff (1 s doubling to 5 minutes with jitter, Retry-After honoured); past
    ``TRENDY_BOT_MAX_TRANSIENT_FAILURES`` in a row the service halts the bot and tells the user, and a
    permanent failure halts it at once: no error is retried forever."""
    try:
        result = ticks.bot_tick(bot_id=bot_id, candle_open=datetime.fromisoformat(candle_open), signal=signal)
    except TemporaryError as exc:
        wait = getattr(exc, "retry_in", None) or 1.0
        raise self.retry(
            countdown=wait, max_retries=settings.TRENDY_BOT_MAX_TRANSIENT_FAILURES, exc=exc, throw=True
        ) from None
    return {"bot": bot_id, "outcome": result.outcome, "orders": result.orders, "message": result.message}


@shared_task(name="trading.reconcile")
def reconcile() -> dict[str, Any]:
    """Every few minutes and at start-up: our orders and positions against the exchanges'."""
    from trading.reconciliation.services import reconcile_all

    return reconcile_all()


@shared_task(name="trading.daily_summary")
def daily_summary() -> dict[str, Any]:
    """Once a day (beat): each active trader's last 24 hours, and the bots drifting from their backtests."""
    from trading.bots.drift import strategy_drift_tell
    from trading.dashboard.daily import daily_summaries_send

    return {"summaries": daily_summaries_send(), "drifts": strategy_drift_tell()}


@worker_ready.connect
def _reconcile_at_start(**kwargs: object) -> None:
    """Reconciliation runs at start-up too: a worker killed mid-order left something to look up."""
    reconcile.delay()
