"""The shard's bots that trade or halt (``trading.bots.batch``, step 5): the per-bot code, ``tick.bot_act``, each in
its own savepoint, in bot order — on the paper books the chunk holds locked in memory (``books_held``), with its
orders sent as new ones (``orders_fresh``: the candle was just claimed) and its orders' events kept for one
INSERT at the end. A tick that fails rolls back to its savepoint and runs again the careful way (with every
savepoint, its account's book read afresh: exactly the per-bot path); one that fails again, or a
``TemporaryError``, releases its claim and goes to its own ``trading.run_bot_tick`` task with the bot's backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ExchangeAccount
from market_data.selectors import ms_to_datetime, to_ms
from trading import clock
from trading.bots import engine
from trading.bots import tick as ticks
from trading.bots.queues import bot_queue
from trading.exchanges.base import OrderRequest
from trading.exchanges.errors import TemporaryError
from trading.execution import router
from trading.execution.fills import fill_closes, fill_trade
from trading.execution.orders import order_fields, orders_fresh
from trading.execution.records import (
    STATUS_FROM_EXCHANGE,
    events_buffered,
    events_write,
    order_event,
    order_state_update,
)
from trading.models import Bot, Order, PaperOrder, Position, Trade
from trading.paper.store import client_ids_tracked, held_book, release, save_books
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
    """These bots' ticks (``batch.BotRow``s; ``report``: the shard's ``batch.ShardReport`` — this module is below
    ``batch``, which calls it): first the plain exits in bulk (``_exits``), then the per-bot code for the others,
    each in its own savepoint, in bot order. ``held``: the position each held at its candle's close, locked (read
    for all of them at once); ``equity``: the equity of the accounts whose book the paper step left unchanged;
    ``risk``: the batch's risk arithmetic. Returns the exits' peak and day-start updates, for the batch's one
    UPDATE."""
    if not bots:
        return []
    rows = {b.id: b for b in bots}
    events: list[Any] = []
    chosen = Bot.objects.select_related("exchange_account", "user", "user__risk_profile").filter(id__in=list(rows))
    chosen_bots = list(chosen.order_by("id"))
    exits = _Exits()
    with Phase(report, "exits"):
        others = exits.run(chosen_bots, rows, held, equity, risk)
    report.exits += len(exits.orders)
    events += exits.events
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
    return exits.risk


EXIT_POSITION_FIELDS = ["realized_pnl", "fees", "amount", "margin", "status", "closed_at", "exit_price", "exit_reason",
                        "updated_at"]  # fmt: skip


class _Exits:
    """The bots whose tick is a plain exit — the signal closes the position held at the close, nothing else —
    in bulk: each exit order is sent on the chunk's paper book in memory and recorded as ``order_submit`` and
    ``fill_record`` record it (the same functions make the order's values, the position's close and the trade),
    then every row is written in one statement per table. A bot that is anything else (it also enters, shares
    its account with another bot of the chunk, has a book the paper step changed, backs off after failures, is
    halted by its risk limit) or that meets anything unexpected on the way goes through the per-bot code,
    its account's book read afresh. Nothing is written for a bot before it is known to be a plain exit."""

    def __init__(self) -> None:
        self.orders: list[Order] = []
        self.positions: list[Position] = []
        self.trades: list[Any] = []
        self.events: list[Any] = []
        self.ended: list[tuple[int, str, str, str]] = []  # account, client order id, status, note
        self.books: dict[int, tuple[ExchangeAccount, Any, Any]] = {}
        self.risk: list[tuple[int, dict[str, Any]]] = []

    def run(
        self,
        bots: list[Bot],
        rows: Mapping[int, Any],
        held: Mapping[int, Position],
        equity: Mapping[int, Decimal],
        risk: Callable[[Any, Decimal, date], tuple[dict[str, Any], bool]],
    ) -> list[Bot]:
        per_account: dict[int, int] = {}
        for bot in bots:
            per_account[bot.exchange_account_id] = per_account.get(bot.exchange_account_id, 0) + 1
        today = clock.now().date()
        used = self._used_client_ids(bots, rows)
        others = []
        with client_ids_tracked() as unused:
            for bot in bots:
                if _exit_client_id(bot, rows[bot.pk]) in used:
                    others.append(bot)  # stored before: the per-bot code finds it (order_submit's get_or_create)
                    continue
                unused.add((bot.exchange_account_id, _exit_client_id(bot, rows[bot.pk])))
                self._one(bot, rows, held, per_account, equity, risk, today, others)
        self._write()
        return others

    def _used_client_ids(self, bots: list[Bot], rows: Mapping[int, Any]) -> set[str]:
        """The exit client order ids already stored as an order or a paper order (none, a claimed candle on paper:
        two queries to be sure before anything is sent as new)."""
        accounts = [bot.exchange_account_id for bot in bots]
        ids = [_exit_client_id(bot, rows[bot.pk]) for bot in bots]
        orders = Order.objects.filter(exchange_account_id__in=accounts, client_order_id__in=ids)
        paper = PaperOrder.objects.filter(account_id__in=accounts, client_order_id__in=ids)
        return set(orders.values_list("client_order_id", flat=True)) | set(
            paper.values_list("client_order_id", flat=True)
        )

    def _one(
        self,
        bot: Bot,
        rows: Mapping[int, Any],
        held: Mapping[int, Position],
        per_account: Mapping[int, int],
        equity: Mapping[int, Decimal],
        risk: Callable[[Any, Decimal, date], tuple[dict[str, Any], bool]],
        today: date,
        others: list[Bot],
    ) -> None:
        row, position = rows[bot.pk], held.get(bot.pk)
        if not (
            per_account[bot.exchange_account_id] == 1
            and bot.exchange_account_id in equity
            and not bot.transient_failures
            and bot.retry_not_before is None
            and position is not None
            and position.status == Position.Status.OPEN
            and position.exchange_account_id == bot.exchange_account_id
            and self._exit(bot, row, position, equity[bot.exchange_account_id], risk, today)
        ):
            others.append(bot)

    def _exit(
        self,
        bot: Bot,
        row: Any,
        position: Position,
        equity: Decimal,
        risk: Callable[[Any, Decimal, date], tuple[dict[str, Any], bool]],
        today: date,
    ) -> bool:
        decision = engine.decide(row.signal, held=position.side, direction=bot.direction)
        if not decision.exit or decision.entry:
            return False
        changes, halts = risk(row, equity, today)
        book = held_book(row.account_id)
        if halts or book is None:
            return False
        wallet, exchange = book
        account = bot.exchange_account
        request = OrderRequest(
            symbol=position.symbol, side="sell" if position.side == Position.Side.LONG else "buy", type="market",
            amount=position.amount, client_order_id=_exit_client_id(bot, row), reduce_only=True,
        )  # fmt: skip
        fields = order_fields(
            account=account, request=request, purpose=Order.Purpose.EXIT, source=Order.Source.BOT,
            bot=position.bot, position=position, candle_open=row.candle_open, note=decision.exit_reason,
        )  # fmt: skip
        order = Order(exchange_account=account, client_order_id=request.client_order_id, **fields)
        try:
            with events_buffered() as events:
                order_event(order, "created", decision.exit_reason)
                state = exchange.create_order(request)
                order_state_update(order, state)
                order_event(order, "acknowledged", "", status=state.status, exchange_order_id=state.exchange_order_id)
                fills = list(exchange.fills)
                exchange.fills.clear()
                fill = fills[0] if len(fills) == 1 else None
                if fill is None or fill.order.client_order_id != order.client_order_id:
                    raise _Unexpected(f"{len(fills)} fills")
                if fill.order != state:
                    order_state_update(order, fill.order)
                filled_at = ms_to_datetime(fill.time_ms)
                pnl, remaining = fill_closes(
                    position, order, price=fill.price, amount=fill.amount, fee=fill.fee, time=filled_at,
                    reason=fill.reason,
                    realized_pnl=fill.realized_pnl if fill.closed_amount else None,
                )  # fmt: skip
                if remaining or position.status != Position.Status.CLOSED:
                    raise _Unexpected("the position is not closed")
                order.position = position
                order_event(order, "filled", "", at=filled_at, price=str(fill.price), amount=str(fill.amount),
                            fee=str(fill.fee), reason=fill.reason)  # fmt: skip
                trade = fill_trade(order, amount=fill.amount, price=fill.price, fee=fill.fee, pnl=pnl, time=filled_at)
        except Exception:  # the book in memory moved, nothing was written: the per-bot code reads it afresh
            log.debug("bot %s: the exit goes through the per-bot code", bot.pk, exc_info=True)
            release(row.account_id)
            return False
        for key in sorted(exchange.book.changed):
            ended = exchange.book.orders[key].state()
            if ended.status in ("canceled", "expired", "rejected") and ended.client_order_id != order.client_order_id:
                status = STATUS_FROM_EXCHANGE[ended.status]
                self.ended.append((account.pk, ended.client_order_id, status, ended.reason[:300]))
        position.updated_at = timezone.now()
        self.orders.append(order)
        self.positions.append(position)
        self.trades.append(trade)
        self.events += events
        self.books[account.pk] = (account, wallet, exchange.book)
        if changes:
            self.risk.append((bot.pk, changes))
        return True

    def _write(self) -> None:
        if not self.orders:
            return
        Position.objects.bulk_update(self.positions, EXIT_POSITION_FIELDS)
        Order.objects.bulk_create(self.orders)
        Trade.objects.bulk_create(self.trades)
        if self.ended:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {Order._meta.db_table} AS o SET status = v.status, note = v.note, "  # noqa: S608
                    "updated_at = %s FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) "
                    "AS v(account_id, client_order_id, status, note) WHERE o.exchange_account_id = v.account_id "
                    "AND o.client_order_id = v.client_order_id AND o.status = ANY(%s)",
                    [timezone.now(), *(list(column) for column in zip(*self.ended, strict=True)),
                     list(Order.OPEN_STATUSES)],
                )  # fmt: skip
        save_books(list(self.books.values()))


def _exit_client_id(bot: Bot, row: Any) -> str:
    """``tick.bot_act``'s exit leg's client order id."""
    return router.client_order_id(f"bot:{bot.pk}", to_ms(row.candle_open), "exit")


class _Unexpected(Exception):
    """A plain exit that did not go as one: the per-bot code takes the bot."""


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
