"""One shard of a loop tick: the paper accounts whose id falls in the shard (``shard_of``, a hash of the id),
their paper step and the ticks of their bots, in bulk. The same rows as the per-bot path (``paper_step`` for each
account, then ``tick.bot_tick`` for each bot), with far fewer round trips:

per chunk of accounts (one transaction, so a crash rolls back the chunk and a redelivered shard does it again):

1. the paper step of the chunk (``paper_batch.paper_chunk``: wallets locked in account order, books read in
   bulk, idle accounts only snapshot);
2. the bots with a signal claim their candle in one UPDATE … RETURNING (status running, the owner's
   auto-trading on, an older candle): the claim commits with whatever the bots do;
3. the position each bot held at the close, in one query; the decision (``engine.decide``) in Python;
4. a flat bot with nothing to do is done (its claim is all it writes); a holding bot with nothing to do gets
   ``_risk_check``'s arithmetic on its account's equity after the paper step, and its peak and day-start
   updates go in one UPDATE;
5. every other bot (it trades, its risk limit halts it, its account's book changed in the paper step, or it
   shares an account with such a bot) runs ``tick.bot_act`` — the per-bot code — in its own savepoint, in bot
   order, on the books the chunk holds (``trading.bots.batch_trades``: a plain exit, entry or reversal is
   written in bulk, the others run the per-bot code). A ``TemporaryError`` (or an error the
   careful second run meets again) rolls its savepoint back, releases its claim and hands it to one
   ``trading.run_bot_tick`` task (with the bot's backoff); a permanent exchange error halts only that bot.

Bots whose signal is None (candle not stored) are not claimed: the catch-up sends them again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import ExchangeAccount
from market_data.timeframes import TIMEFRAME_MS
from strategies.interface import LEVEL_COLUMNS
from trading import clock
from trading.bots import batch_trades as trades
from trading.bots import engine
from trading.bots.batch_trades import Phase
from trading.bots.paper_batch import Markets, PaperChunk, Prices, paper_chunk
from trading.bots.sharding import group_key
from trading.models import Bot, PaperOrder, PaperPosition, Position
from trading.paper.store import books_held

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)
KNUTH = 2_654_435_761
BOT_FIELDS = (
    "id", "exchange_account_id", "symbol", "timeframe", "strategy", "params", "direction",
    "max_drawdown_pct", "daily_loss_limit_pct", "trailing_stop_pct", "pyramiding", "levels_by_bar",
)  # fmt: skip


@dataclass
class ShardReport:
    bots: int = 0
    claimed: int = 0
    accounts: int = 0
    per_bot: int = 0
    plain: int = 0  # bots whose tick was plain, written in bulk (``batch_trades._Plain``)
    retried: int = 0
    errors: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # milliseconds


@dataclass
class BotRow:
    id: int
    account_id: int
    symbol: str
    timeframe: str
    direction: str
    max_drawdown_pct: Decimal
    daily_loss_limit_pct: Decimal | None
    signal: Mapping[str, bool]
    candle_open: datetime
    # A trailing stop or the strategy's own levels (a tick that keeps the position moves them) or pyramiding (a tick
    # may add to it): when the bot holds a position, the per-bot code.
    keeps_acting: bool = False
    # read back by the claim (the row as it is now): what the risk check starts from
    peak_equity: Decimal | None = None
    day_start: date | None = None
    day_start_equity: Decimal | None = None


def shard_of(account_id: Any, shards: int) -> Any:
    """An account's shard, in SQL: its id scrambled (Knuth's multiplicative hash) modulo the shard count, so that
    accounts opened in a pattern (a bot per market and strategy in turn) do not all land in a few shards."""
    return account_id * KNUTH % 4_294_967_296 % shards


def shard_bots(shard: int, shards: int, due: Mapping[str, datetime]) -> list[dict[str, Any]]:
    """The running paper bots of this shard whose timeframe has a candle closing now, as values."""
    return list(
        Bot.objects.filter(
            status=Bot.Status.RUNNING,
            user__auto_trading=True,
            exchange_account__enabled=True,
            exchange_account__exchange=ExchangeAccount.PAPER,
            timeframe__in=list(due),
        )
        .annotate(shard=shard_of(F("exchange_account_id"), shards))
        .filter(shard=shard)
        .order_by("id")
        .values(*BOT_FIELDS)
    )


def shard_accounts(shard: int, shards: int, bot_accounts: Iterable[int]) -> dict[int, ExchangeAccount]:
    """The paper accounts of this shard the paper step plays: a position or an open order, or a due bot."""
    ids = set(bot_accounts)
    for model, extra in ((PaperPosition, {}), (PaperOrder, {"status": "open"})):
        ids |= set(
            model.objects.filter(**extra)
            .annotate(shard=shard_of(F("account_id"), shards))
            .filter(shard=shard)
            .values_list("account_id", flat=True)
        )
    accounts = ExchangeAccount.objects.filter(id__in=ids, enabled=True, exchange=ExchangeAccount.PAPER)
    return {a.pk: a for a in accounts.order_by("id")}


def shard_step(
    *,
    now: datetime,
    shard: int,
    shards: int,
    due: Mapping[str, datetime],
    signals: Mapping[str, Mapping[str, bool] | None],
    candle_for: Callable[[str, str], Any],
    chunk_size: int = 1000,
    chunk_is_done: Callable[[int], bool] = lambda index: False,
    chunk_done: Callable[[int], None] = lambda index: None,
    prices: Mapping[str, Decimal] | None = None,
) -> ShardReport:
    """``prices``: markets' current prices read once for the tick ("source|data symbol" → price); the others are
    read by the shard, once each."""
    with clock.steady():
        return _shard_step(
            now, shard, shards, due, signals, candle_for, chunk_size, chunk_is_done, chunk_done, prices or {}
        )


def _shard_step(
    now: datetime,
    shard: int,
    shards: int,
    due: Mapping[str, datetime],
    signals: Mapping[str, Mapping[str, bool] | None],
    candle_for: Callable[[str, str], Any],
    chunk_size: int,
    chunk_is_done: Callable[[int], bool],
    chunk_done: Callable[[int], None],
    known_prices: Mapping[str, Decimal],
) -> ShardReport:
    report = ShardReport()
    with Phase(report, "read"):
        rows = shard_bots(shard, shards, due)
        accounts = shard_accounts(shard, shards, (r["exchange_account_id"] for r in rows))
    report.bots, report.accounts = len(rows), len(accounts)
    by_account: dict[int, list[BotRow]] = defaultdict(list)
    source = clock.data_exchange(ExchangeAccount.PAPER)
    for row in rows:
        key = group_key(source, clock.data_symbol(row["symbol"]), row["timeframe"], row["strategy"], row["params"])
        signal = signals.get(key)
        if signal is None:
            continue  # no candle (or not planned yet): not claimed; the catch-up sends it again
        by_account[row["exchange_account_id"]].append(
            BotRow(
                id=row["id"],
                account_id=row["exchange_account_id"],
                symbol=row["symbol"],
                timeframe=row["timeframe"],
                direction=row["direction"],
                max_drawdown_pct=row["max_drawdown_pct"],
                daily_loss_limit_pct=row["daily_loss_limit_pct"],
                signal=signal,
                candle_open=due[row["timeframe"]],
                keeps_acting=row["trailing_stop_pct"] is not None
                or row["pyramiding"] > 1
                or row["levels_by_bar"]
                or LEVEL_COLUMNS[0] in signal,
            )
        )
    prices, markets = Prices(known_prices), Markets()
    ids = sorted(accounts)
    for index, start in enumerate(range(0, len(ids), chunk_size)):
        if chunk_is_done(index):
            continue  # a redelivered shard: this chunk committed before the worker died
        chunk = {account_id: accounts[account_id] for account_id in ids[start : start + chunk_size]}
        with transaction.atomic(), books_held():
            with Phase(report, "paper_step"):
                paper = paper_chunk(accounts=chunk, now=now, candle_for=candle_for, prices=prices, markets=markets)
            report.errors += paper.errors
            bots = [bot for account_id in chunk for bot in by_account.get(account_id, ())]
            _bots_step(bots, paper, report)
        chunk_done(index)
    report.phases = dict(report.phases)
    return report


def _bots_step(bots: list[BotRow], paper: PaperChunk, report: ShardReport) -> None:
    with Phase(report, "claim"):
        claimed = _claim(bots)
    report.claimed += len(claimed)
    with Phase(report, "held"):
        held = _held(claimed)
    with Phase(report, "decide"):
        today = clock.now().date()
        risk: dict[int, tuple[BotRow, dict[str, Any]]] = {}
        per_bot: list[BotRow] = []
        for bot in sorted(claimed.values(), key=lambda b: b.id):
            side = held.get(bot.id)
            decision = engine.decide(bot.signal, held=side, direction=bot.direction)
            if decision.is_noop and side is None:
                continue  # flat and nothing to do: the claim is all
            if decision.is_noop and bot.account_id in paper.equity and not bot.keeps_acting:
                changes, halts = _risk(bot, paper.equity[bot.account_id], today)
                if not halts:
                    risk[bot.id] = (bot, changes)
                    continue
            per_bot.append(bot)
        busy = {bot.account_id for bot in per_bot}  # a bot that trades changes its siblings' equity: all per bot
        for bot_id, (bot, _changes) in list(risk.items()):
            if bot.account_id in busy:
                per_bot.append(bot)
                del risk[bot_id]
    with Phase(report, "risk"):
        _risk_update([(bot_id, changes) for bot_id, (_bot, changes) in risk.items() if changes])
    with Phase(report, "per_bot"):
        updates = trades.run(
            sorted(per_bot, key=lambda b: b.id), _held_positions(per_bot), report, equity=paper.equity, risk=_risk
        )
        _risk_update(updates)


def _claim(bots: list[BotRow]) -> dict[int, BotRow]:
    """``tick._claim`` for many bots: one UPDATE … RETURNING per candle (bots of one timeframe share it)."""
    claimed: dict[int, BotRow] = {}
    by_candle: dict[datetime, list[BotRow]] = defaultdict(list)
    for bot in bots:
        by_candle[bot.candle_open].append(bot)
    table, users = Bot._meta.db_table, Bot._meta.get_field("user").related_model._meta.db_table
    for candle_open, group in by_candle.items():
        by_id = {bot.id: bot for bot in group}
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS b SET last_candle_open = %s, last_tick_at = %s FROM {users} AS u "  # noqa: S608  # nosec B608  # the models' tables; values are parameters
                "WHERE u.id = b.user_id AND u.auto_trading AND b.id = ANY(%s) AND b.status = %s "
                "AND (b.last_candle_open < %s OR b.last_candle_open IS NULL) "
                "RETURNING b.id, b.peak_equity, b.day_start, b.day_start_equity",
                [candle_open, timezone.now(), list(by_id), Bot.Status.RUNNING, candle_open],
            )
            for bot_id, peak, day_start, day_start_equity in cursor.fetchall():
                bot = claimed[bot_id] = by_id[bot_id]
                bot.peak_equity, bot.day_start, bot.day_start_equity = peak, day_start, day_start_equity
    return claimed


def _held(claimed: Mapping[int, BotRow]) -> dict[int, str]:
    """``tick._held_at`` for many bots: the side of the position each held at its candle's close."""
    return {bot_id: side for bot_id, (_id, side) in _held_rows(list(claimed.values())).items()}


def _held_rows(bots: list[BotRow]) -> dict[int, tuple[int, str]]:
    """bot → (id, side) of the position it held at its candle's close, in one query."""
    if not bots:
        return {}
    closes = [b.candle_open + timedelta(milliseconds=TIMEFRAME_MS[b.timeframe]) for b in bots]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT ON (p.bot_id) p.bot_id, p.id, p.side FROM {Position._meta.db_table} AS p "  # noqa: S608  # nosec B608  # the model's table; values are parameters
            "JOIN unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS v(bot_id, symbol, close) "
            "ON p.bot_id = v.bot_id AND p.symbol = v.symbol "
            "WHERE p.opened_at < v.close AND (p.closed_at IS NULL OR p.closed_at >= v.close) "
            "ORDER BY p.bot_id, p.opened_at DESC",
            [[b.id for b in bots], [b.symbol for b in bots], closes],
        )
        return {bot_id: (position_id, side) for bot_id, position_id, side in cursor.fetchall()}


def _held_positions(bots: list[BotRow]) -> dict[int, Position]:
    """``tick._held_at`` for the bots that go through the per-bot code, as rows with their account and bot,
    locked (as ``fill_record`` locks the position a fill changes)."""
    ids = [position_id for position_id, _side in _held_rows(bots).values()]
    locked = Position.objects.select_related("exchange_account", "bot").select_for_update(of=("self",))
    rows = locked.filter(id__in=ids) if ids else ()
    return {p.bot_id: p for p in rows}


def _risk(bot: BotRow, equity: Decimal, today: date) -> tuple[dict[str, Any], bool]:
    """``tick._risk_check``'s arithmetic: the peak and day-start updates, and whether a limit halts the bot."""
    peak, day_start, day_start_equity = bot.peak_equity, bot.day_start, bot.day_start_equity
    changes: dict[str, Any] = {}
    if peak is None or equity > peak:
        peak = changes["peak_equity"] = equity
    if day_start != today:
        day_start, day_start_equity = today, equity
        changes["day_start"], changes["day_start_equity"] = day_start, day_start_equity
    if peak and peak > 0 and (1 - equity / peak) * HUNDRED > bot.max_drawdown_pct:
        return changes, True
    limit = bot.daily_loss_limit_pct
    if limit and day_start_equity and day_start_equity > 0 and (1 - equity / day_start_equity) * HUNDRED > limit:
        return changes, True
    return changes, False


def _risk_update(updates: list[tuple[int, dict[str, Any]]]) -> None:
    """The peak and day-start updates of many bots in one UPDATE (values rounded as Django rounds them)."""
    if not updates:
        return
    peak_field, equity_field = Bot._meta.get_field("peak_equity"), Bot._meta.get_field("day_start_equity")
    columns: dict[str, list[Any]] = defaultdict(list)
    for bot_id, changes in updates:
        columns["id"].append(bot_id)
        columns["set_peak"].append("peak_equity" in changes)
        columns["peak"].append(peak_field.get_db_prep_save(changes.get("peak_equity"), connection))
        columns["set_day"].append("day_start" in changes)
        columns["day"].append(changes.get("day_start"))
        columns["day_equity"].append(equity_field.get_db_prep_save(changes.get("day_start_equity"), connection))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Bot._meta.db_table} AS b SET "  # noqa: S608  # nosec B608  # the model's table; values are parameters
            "peak_equity = CASE WHEN v.set_peak THEN v.peak ELSE b.peak_equity END, "
            "day_start = CASE WHEN v.set_day THEN v.day ELSE b.day_start END, "
            "day_start_equity = CASE WHEN v.set_day THEN v.day_equity ELSE b.day_start_equity END "
            "FROM unnest(%s::bigint[], %s::boolean[], %s::numeric[], %s::boolean[], %s::date[], %s::numeric[]) "
            "AS v(id, set_peak, peak, set_day, day, day_equity) WHERE b.id = v.id",
            [columns[name] for name in ("id", "set_peak", "peak", "set_day", "day", "day_equity")],
        )
