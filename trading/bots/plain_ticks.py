"""Plain ticks in bulk, for the loop's batch (``trading.bots.batch_trades``): an exit of the position held at the
close, an entry from flat with its stop loss and take profit, or both (a reversal), sent on the chunk's paper books
in memory and recorded by the same functions as the per-bot code, then written in one statement per table."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from accounts.models import ExchangeAccount
from market_data.selectors import ms_to_datetime, to_ms
from strategies.interface import LEVEL_COLUMNS
from trading import clock
from trading.bots import engine
from trading.bots import tick as ticks
from trading.exchanges.base import OrderRequest
from trading.execution import router
from trading.execution.fills import fill_closes, fill_event, fill_opens, fill_trade
from trading.execution.orders import order_fields
from trading.execution.positions import entry_request, protection, protective_request
from trading.execution.records import STATUS_FROM_EXCHANGE, events_buffered, order_event, order_state_update
from trading.models import Bot, Order, PaperOrder, Position, Trade
from trading.models.fields import as_stored_row
from trading.paper.store import client_ids_tracked, held_book, release, save_books
from trading_site import metrics

log = logging.getLogger(__name__)


EXIT_POSITION_FIELDS = ["realized_pnl", "fees", "amount", "margin", "status", "closed_at", "exit_price", "exit_reason",
                        "updated_at"]  # fmt: skip


class Plain:
    """The bots whose tick is plain — an exit of the position held at the close, an entry from flat (with its
    stop loss and take profit), or both (a reversal) — in bulk: each order is sent on the chunk's paper book in
    memory and recorded as ``order_submit``, ``fill_record`` and ``protect`` record it (the same functions make
    the entry's size, the orders' values, the position's close or opening, the trade and the protective orders),
    then every row is written in one statement per table (new positions take ids drawn from their sequence
    first: their protective orders' client ids are made from them). A bot that is anything else (it shares its
    account with another bot of the chunk, its book changed in the paper step, it backs off after failures, its
    risk limit halts it, another position is open on its market) or that meets anything unexpected on the way
    (a refused order, a fill that is not the one expected) goes through the per-bot code, its account's book
    read afresh: nothing is written for a bot before it is known to be plain."""

    def __init__(self) -> None:
        self.orders: list[Order] = []
        self.closed: list[Position] = []
        self.opened: list[Position] = []
        self.trades: list[Any] = []
        self.events: list[Any] = []
        self.ended: list[tuple[int, str, str, str]] = []  # account, client order id, status, note
        self.books: dict[int, tuple[ExchangeAccount, Any, Any]] = {}
        self.risk: list[tuple[int, dict[str, Any]]] = []
        self.count = 0

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
        alone = {account for account, count in per_account.items() if count == 1 and account in equity}
        plain = [bot for bot in bots if bot.exchange_account_id in alone]
        used, open_on = self._stored(plain, rows)
        ids = _position_ids(len(plain))
        today = clock.now().date()
        others = [bot for bot in bots if bot.exchange_account_id not in alone]
        with client_ids_tracked() as unused:
            for bot in plain:
                row = rows[bot.pk]
                mine = {_client_id(bot, row, "exit"), _client_id(bot, row, "entry")}
                if mine & used:
                    others.append(bot)  # stored before: the per-bot code finds it (order_submit's get_or_create)
                    continue
                unused.update((bot.exchange_account_id, client_id) for client_id in mine)
                context = (equity[bot.exchange_account_id], risk, today, open_on, ids, unused)
                if not self._plain(bot, row, held.get(bot.pk), *context):
                    others.append(bot)
        self._write()
        return sorted(others, key=lambda bot: bot.pk)

    def _stored(self, bots: list[Bot], rows: Mapping[int, Any]) -> tuple[set[str], set[tuple[int, str]]]:
        """The exit and entry client order ids already stored as an order or a paper order (none, a claimed candle
        on paper: made sure of before anything is sent as new), and the markets with an open position."""
        accounts = [bot.exchange_account_id for bot in bots]
        ids = [_client_id(bot, rows[bot.pk], leg) for bot in bots for leg in ("exit", "entry")]
        if not ids:
            return set(), set()
        orders = Order.objects.filter(exchange_account_id__in=accounts, client_order_id__in=ids)
        paper = PaperOrder.objects.filter(account_id__in=accounts, client_order_id__in=ids)
        used = set(orders.values_list("client_order_id", flat=True)) | set(
            paper.values_list("client_order_id", flat=True)
        )
        open_on = Position.objects.filter(exchange_account_id__in=accounts, status=Position.Status.OPEN)
        return used, set(open_on.values_list("exchange_account_id", "symbol"))

    def _plain(
        self,
        bot: Bot,
        row: Any,
        position: Position | None,
        equity: Decimal,
        risk: Callable[[Any, Decimal, date], tuple[dict[str, Any], bool]],
        today: date,
        open_on: set[tuple[int, str]],
        ids: list[int],
        unused: set[tuple[int, str]],
    ) -> bool:
        if bot.transient_failures or bot.retry_not_before is not None:
            return False
        if LEVEL_COLUMNS[0] in row.signal:  # the entry's stop and target are the strategy's: the per-bot code
            return False
        account = bot.exchange_account
        decision = engine.decide(row.signal, held=position.side if position else None, direction=bot.direction)
        held_open = (
            position is not None
            and position.status == Position.Status.OPEN
            and position.exchange_account_id == account.pk
        )
        exits = bool(decision.exit) and held_open
        if decision.exit and not exits:
            return False  # an exit signal without the position it closes: the per-bot code says what happens
        if decision.entry and not exits and (position is not None or (account.pk, bot.symbol) in open_on):
            return False  # another position on the market (or the held one left open): no entry
        if not exits and not decision.entry:
            return False
        changes, halts = risk(row, equity, today)
        book = held_book(account.pk)
        if halts or book is None:
            return False
        wallet, exchange = book
        made: dict[str, list[Any]] = {"orders": [], "closed": [], "opened": [], "trades": []}
        try:
            with events_buffered() as events:
                if exits and position is not None:
                    self._exit(bot, row, position, decision.exit_reason, exchange, made)
                if decision.entry:
                    self._entry(bot, row, decision.entry, exchange, ids, unused, made)
        except Exception:  # the book and the held position moved in memory, nothing was written: read them afresh
            log.debug("bot %s: its tick goes through the per-bot code", bot.pk, exc_info=True)
            release(account.pk)
            if position is not None:
                position.refresh_from_db()
            return False
        mine = {order.client_order_id for order in made["orders"]}
        for key in sorted(exchange.book.changed):
            ended = exchange.book.orders[key].state()
            if ended.status in ("canceled", "expired", "rejected") and ended.client_order_id not in mine:
                status = STATUS_FROM_EXCHANGE[ended.status]
                self.ended.append((account.pk, ended.client_order_id, status, ended.reason[:300]))
        self.orders += made["orders"]
        self.closed += made["closed"]
        self.opened += made["opened"]
        self.trades += made["trades"]
        self.events += events
        self.books[account.pk] = (account, wallet, exchange.book)
        if changes:
            self.risk.append((bot.pk, changes))
        self.count += 1
        return True

    def _send(self, exchange: Any, order: Order, request: OrderRequest, note: str) -> Any:
        """``order_submit`` for a new paper order: the events, the exchange's answer, its fill (if any)."""
        order_event(order, "created", note)
        state = exchange.create_order(request)
        order_state_update(order, state)
        order_event(order, "acknowledged", "", status=state.status, exchange_order_id=state.exchange_order_id)
        fills = list(exchange.fills)
        exchange.fills.clear()
        if request.type != "market":
            if fills or state.status != "open":
                raise _Unexpected(f"a resting order that is {state.status} with {len(fills)} fills")
            return None
        if len(fills) != 1 or fills[0].order.client_order_id != order.client_order_id:
            raise _Unexpected(f"{len(fills)} fills")
        if fills[0].order != state:
            order_state_update(order, fills[0].order)
        return fills[0]

    def _exit(self, bot: Bot, row: Any, position: Position, note: str, exchange: Any, made: dict) -> None:
        """``close_position`` of the held position, as ``tick.bot_act``'s exit leg sends it."""
        request = OrderRequest(
            symbol=position.symbol, side="sell" if position.side == Position.Side.LONG else "buy", type="market",
            amount=position.amount, client_order_id=_client_id(bot, row, "exit"), reduce_only=True,
        )  # fmt: skip
        fields = order_fields(
            account=position.exchange_account, request=request, purpose=Order.Purpose.EXIT, source=Order.Source.BOT,
            bot=position.bot, position=position, candle_open=row.candle_open, note=note,
        )  # fmt: skip
        order = Order(exchange_account=position.exchange_account, client_order_id=request.client_order_id, **fields)
        fill = self._send(exchange, order, request, note)
        filled_at = ms_to_datetime(fill.time_ms)
        pnl, remaining = fill_closes(
            position, order, price=fill.price, amount=fill.amount, fee=fill.fee, time=filled_at, reason=fill.reason,
            realized_pnl=fill.realized_pnl if fill.closed_amount else None,
        )  # fmt: skip
        if remaining or position.status != Position.Status.CLOSED:
            raise _Unexpected("the position is not closed")
        position.updated_at = timezone.now()
        order.position = position
        self._filled(order, fill, filled_at, pnl, made)
        made["closed"].append(position)

    def _entry(
        self, bot: Bot, row: Any, side: str, exchange: Any, ids: list[int], unused: set[tuple[int, str]], made: dict
    ) -> None:
        """``position_open`` as ``tick.bot_act``'s entry leg calls it: the sized entry, then ``protect``."""
        account = bot.exchange_account
        capped = ticks.bot_capped(bot)
        client_id = _client_id(bot, row, "entry")
        request, note = entry_request(
            exchange=exchange, account=account, symbol=bot.symbol, side=side, capped=capped, client_id=client_id,
            note="",
        )  # fmt: skip
        fields = order_fields(
            account=account, request=request, purpose=Order.Purpose.ENTRY, source=Order.Source.BOT, bot=bot,
            position=None, candle_open=row.candle_open, note=note,
        )  # fmt: skip
        order = Order(exchange_account=account, client_order_id=client_id, **fields)
        fill = self._send(exchange, order, request, note)
        if fill.closed_amount or fill.opened is None:
            raise _Unexpected("the entry did not open a position from flat")
        filled_at = ms_to_datetime(fill.time_ms)
        position = fill_opens(
            order, price=fill.price, amount=fill.amount, remaining=fill.amount, fee=fill.fee, time=filled_at,
            margin=fill.opened.margin, leverage=fill.opened.leverage,
        )  # fmt: skip
        position.pk = ids.pop()
        order.position = position
        self._filled(order, fill, filled_at, Decimal(0), made)
        as_stored_row(position)  # what ``protect`` reads back in the per-bot code
        stop, take, wanted = protection(exchange, position, capped)
        position.stop_loss, position.take_profit = stop, take
        made["opened"].append(position)
        for kind, level, purpose, leg in wanted:
            protective = protective_request(position, kind, level, client_id, f"{leg}0")
            unused.add((account.pk, protective.client_order_id))  # made from a position id never used before
            fields = order_fields(
                account=account, request=protective, purpose=purpose, source=Order.Source.SYSTEM, bot=position.bot,
                position=position, candle_open=None, note="",
            )  # fmt: skip
            resting = Order(exchange_account=account, client_order_id=protective.client_order_id, **fields)
            self._send(exchange, resting, protective, "")
            made["orders"].append(resting)

    def _filled(self, order: Order, fill: Any, filled_at: Any, pnl: Decimal, made: dict) -> None:
        order_event(order, "filled", "", at=filled_at, price=str(fill.price), amount=str(fill.amount),
                    fee=str(fill.fee), reason=fill.reason)  # fmt: skip
        made["orders"].append(order)
        made["trades"].append(fill_trade(order, amount=fill.amount, price=fill.price, fee=fill.fee, pnl=pnl,
                                         time=filled_at))  # fmt: skip

    def _write(self) -> None:
        if not self.orders:
            return
        if self.closed:
            Position.objects.bulk_update(self.closed, EXIT_POSITION_FIELDS)
        if self.opened:
            Position.objects.bulk_create(self.opened)
        Order.objects.bulk_create(self.orders)
        Trade.objects.bulk_create(self.trades)
        filled = {id(trade.order) for trade in self.trades}
        for order in self.orders:  # as ``order_submit`` and ``fill_record`` count theirs (on commit)
            exchange = order.exchange_account.exchange
            metrics.order_answered(exchange, order.side, "filled" if id(order) in filled else "open")
        for trade in self.trades:
            metrics.filled(trade.exchange_account.exchange, trade.symbol, float(trade.amount * trade.price))
        for trade in self.trades:  # the user's events, as ``fill_record`` emits them (on commit, no query)
            closing = trade.order.purpose == Order.Purpose.EXIT  # a plain tick fills market orders only
            fill_event(
                trade.order, price=trade.price, amount=trade.amount, pnl=trade.realized_pnl if closing else None,
                reason="market",
            )  # fmt: skip
        if self.ended:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {Order._meta.db_table} AS o SET status = v.status, note = v.note, "  # noqa: S608  # nosec B608  # the model's table; values are parameters
                    "updated_at = %s FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) "
                    "AS v(account_id, client_order_id, status, note) WHERE o.exchange_account_id = v.account_id "
                    "AND o.client_order_id = v.client_order_id AND o.status = ANY(%s)",
                    [timezone.now(), *(list(column) for column in zip(*self.ended, strict=True)),
                     list(Order.OPEN_STATUSES)],
                )  # fmt: skip
        save_books(list(self.books.values()))


def _client_id(bot: Bot, row: Any, leg: str) -> str:
    """``tick.bot_act``'s client order id of a leg ("exit", "entry") on the bot's candle."""
    return router.client_order_id(f"bot:{bot.pk}", to_ms(row.candle_open), leg)


def _position_ids(count: int) -> list[int]:
    """``count`` new position ids drawn from the table's sequence (ids left unused are gaps, as a rolled-back
    insert leaves)."""
    if not count:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Position._meta.db_table, count],
        )
        return [value for (value,) in reversed(cursor.fetchall())]


class _Unexpected(Exception):
    """A plain exit that did not go as one: the per-bot code takes the bot."""
