"""The shard's bots that trade or halt (``trading.bots.batch``, step 5), on the paper books the chunk holds locked
in memory (``books_held``). A plain tick — an exit, an entry from flat with its stop loss and take profit, a
reversal — is sent on the book and recorded by the same functions as the per-bot code, and its rows are
written with the other plain ticks' in one statement per table (``trading.bots.plain_ticks``). Every other
bot runs the per-bot code, ``tick.bot_act``, in its own savepoint, in bot order, with its orders sent as new
ones (``orders_fresh``: the candle was just claimed) and its orders' events kept for one INSERT at the end. A
tick that fails rolls back to its savepoint and runs again the careful way (with every savepoint, its
account's book read afresh: exactly the per-bot path); one that fails again, or a ``TemporaryError``,
releases its claim and goes to its own ``trading.run_bot_tick`` task with the bot's backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from accounts.models import ExchangeAccount
from trading.bots import tick as ticks
from trading.bots.plain_ticks import Plain
from trading.bots.queues import bot_queue
from trading.exchanges.errors import TemporaryError
from trading.execution.orders import orders_fresh
from trading.execution.records import (
    events_buffered,
    events_write,
)
from trading.models import Bot, Position
from trading.paper.store import release
from trading_site.dispatch import enqueue as dispatch_task

log = logging.getLogger(__name__)


class Phase:
    """Adds the time its block takes to ``report.phases[name]`` (milliseconds)."""

    def __init__(self, report: Any, name: str) -> None:
        self.report, self.name = report, name

    def __enter__(self) -> None:
        self.began = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.report.phases[self.name] += (time.perf_counter() - self.began) * 1000


def run(
    bots: list[Any],
    held: Mapping[int, Position],
    report: Any,
    *,
    equity: Mapping[int, Decimal],
    risk: Callable[[Any, Decimal, date], tuple[dict[str, Any], bool]],
) -> list[tuple[int, dict[str, Any]]]:
    """These bots' ticks (``batch.BotRow``s; ``report``: the shard's ``batch.ShardReport``; this module is
    below ``batch``, which calls it): first the plain ticks in bulk (``plain_ticks.Plain``), then the per-bot
    code for the others, each in its own savepoint, in bot order. ``held``: the position each held at its
    candle's close, locked (read for all of them at once); ``equity``: the equity of the accounts whose book
    the paper step left unchanged; ``risk``: the batch's risk arithmetic. Returns the plain ticks' peak and
    day-start updates, for the batch's one UPDATE."""
    if not bots:
        return []
    rows = {b.id: b for b in bots}
    events: list[Any] = []
    chosen = Bot.objects.select_related("exchange_account", "user", "user__risk_profile").filter(id__in=list(rows))
    chosen_bots = list(chosen.order_by("id"))
    plain = Plain()
    with Phase(report, "plain"):
        others = plain.run(chosen_bots, rows, held, equity, risk)
    report.plain += plain.count
    events += plain.events
    for bot in others:
        row = rows[bot.pk]
        report.per_bot += 1
        try:
            events += _act(bot, row, held.get(bot.pk))
        except Exception as exc:  # any failure: this bot alone, tried again by its own task
            release(row.account_id)
            if not isinstance(exc, TemporaryError):
                log.exception("bot %s failed in the loop's batch; its own task tries again", bot.pk)
            report.errors.append(f"bot {bot.pk}: {type(exc).__name__}")
            report.retried += 1
            Bot.objects.filter(pk=bot.pk, last_candle_open=row.candle_open).update(
                last_candle_open=row.candle_open - timedelta(milliseconds=1)
            )
            wait = getattr(exc, "retry_in", None) or 1.0
            dispatch_task(
                "trading.run_bot_tick", bot.pk, row.candle_open.isoformat(), dict(row.signal),
                countdown=wait, queue=bot_queue(ExchangeAccount.PAPER),
            )  # fmt: skip
    events_write(events)
    return plain.risk


class _Undo(Exception):
    """A block inside the bot's tick failed and was handled there: undo the tick and run it again."""


@contextmanager
def _without_savepoints() -> Iterator[None]:
    """Nested ``atomic`` blocks open no savepoint (the connection's features say it has none)."""
    features = connection.features
    features.uses_savepoints = False
    try:
        yield
    finally:
        del features.uses_savepoints  # the class's True again


def _act(bot: Bot, row: Any, held: Position | None) -> list[Any]:
    """``tick.bot_act`` in the bot's own savepoint. A trade opens a dozen nested savepoints (``get_or_create``,
    ``fill_record``, the paper session): a quarter of its statements. They only matter when something fails
    inside, so the tick first runs without them; if anything failed (an exception, or a nested block that
    failed and left the transaction to roll back), it is rolled back to the bot's savepoint and run again,
    from a fresh copy of the bot and of its account's paper book, with every savepoint: exactly the per-bot
    path. The orders' events of a tick that stays are returned, for one INSERT with the others' at the end.
    The first run also sends its orders as new ones (``orders_fresh``: the candle was just claimed)."""
    try:
        with transaction.atomic():
            with _without_savepoints(), events_buffered() as events, orders_fresh():
                ticks.bot_act(bot, row.candle_open, row.signal, held=held)
            if connection.needs_rollback:
                raise _Undo
        return events
    except Exception:  # rolled back to the bot's savepoint: the careful run below says what happened
        log.debug("bot %s: tick run again with savepoints", bot.pk, exc_info=True)
    release(row.account_id)  # the book in memory is ahead of the rolled-back rows
    fresh = Bot.objects.select_related("exchange_account", "user").get(pk=bot.pk)
    with transaction.atomic():
        ticks.bot_act(fresh, row.candle_open, row.signal)
    return []
