"""Thin Celery tasks: take ids, call a service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from trading import clock
from trading.bots import loop
from trading.bots import tick as ticks
from trading.exchanges.errors import TemporaryError
from trading.execution import positions as position_services


@shared_task(name="trading.tick")
def tick() -> dict[str, Any]:
    """Every minute (beat): the candles that just closed, the paper exchange, a task per bot."""
    if clock.is_replay():
        return {"skipped": "the replay clock drives the loop"}
    now = clock.now().replace(second=0, microsecond=0)
    report = loop.loop_step(now=now, refresh=True)
    caught_up = loop.catch_up(now=now)
    watched = position_services.watch_stops(now=now)
    return {
        "markets": report.markets,
        "bots": report.bots,
        "caught_up": caught_up,
        "stops_closed": watched,
        "errors": report.errors[:10],
    }


@shared_task(name="trading.replay_tick")
def replay_tick() -> dict[str, Any]:
    """Every few seconds (beat) when the clock is on replay: one candle forward, then the loop."""
    moved = clock.replay_advance()
    if moved is None:
        return {"moved": False}
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


@shared_task(name="trading.reconciliation.diff")
def reconcile() -> dict[str, Any]:
    """Every few minutes and at start-up: our orders and positions against the exchanges'."""
    from trading.reconciliation.services import reconcile_all

    return reconcile_all()


@worker_ready.connect
def _reconcile_at_start(**kwargs: object) -> None:
    """Reconciliation runs at start-up too: a worker killed mid-order left something to look up."""
    reconcile.delay()
