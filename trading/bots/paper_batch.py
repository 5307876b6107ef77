"""The loop's paper step for many accounts at once (one chunk of a shard, inside the chunk's transaction).

The same as ``paper_market.paper_step`` account by account, with the database reads and writes in bulk:

- the wallets are created when missing (the account's starting balance, the settings' fee and slippage, as
  ``wallet_for``), then locked in one query ordered by account (every paper book mutation holds its wallet's
  row lock; ordered, two chunks never deadlock); the open orders and positions are read in two queries;
- an idle account (no position, no open order) writes only its equity snapshot: balance and equity = balance;
- an account with a position or an order plays, market by market in sorted order, the closed candle (on the
  replay clock) then the new price on the in-memory paper exchange; fills are recorded and the book saved
  through the usual per-account code (``flush``/``save_book``: they write nothing when nothing changed), and
  such an account's Trendy positions are marked at once; the marks of the others go in one UPDATE;
- the equity snapshots of the chunk go in one INSERT … ON CONFLICT.

An account whose market price cannot be read (``ExchangeError``) goes through ``paper_step`` itself, in its own
savepoint, as the per-account loop does (its error is reported, the others go on).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection

from accounts.models import ExchangeAccount
from market_data.selectors import to_ms
from trading import clock
from trading.bots import paper_market
from trading.exchanges.base import Market
from trading.exchanges.errors import ExchangeError
from trading.exchanges.paper import PaperBook, PaperExchange
from trading.execution.equity import account_equity
from trading.execution.fills import paper_changes_record
from trading.models import EquitySnapshot, PaperOrder, PaperPosition, PaperWallet, Position
from trading.paper.markets import paper_markets
from trading.paper.store import _fingerprint, book_of, build_exchange, flush, hold, save_book

ZERO = Decimal(0)
CandleFor = Callable[[str, str], Any]  # (data exchange, symbol) → (candle, intrabar) or None


@dataclass
class PaperChunk:
    """What the bots of a chunk need from its paper step: each account's equity after it (accounts whose
    book did not change) and the accounts whose book changed (fills): their bots take the per-bot path."""

    equity: dict[int, Decimal] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


class Prices:
    """The current price of each market, read once per shard (``clock.current_price`` depends only on the
    clock, which does not move during a tick); a failure is remembered and raised again."""

    def __init__(self, known: Mapping[str, Decimal] | None = None) -> None:
        self._seen: dict[tuple[str, str], Decimal | ExchangeError] = {}
        self._known = known or {}  # read once for the whole tick: "source|data symbol" → price

    def get(self, source: str, symbol: str) -> Decimal:
        key = (source, symbol)
        if key not in self._seen:
            known = self._known.get(f"{source}|{clock.data_symbol(symbol)}")
            if known is not None:
                self._seen[key] = known
                return known
            try:
                self._seen[key] = clock.current_price(source, symbol)
            except ExchangeError as exc:
                self._seen[key] = exc
        found = self._seen[key]
        if isinstance(found, ExchangeError):
            raise found
        return found

    def ok(self, source: str, symbol: str) -> bool:
        try:
            self.get(source, symbol)
        except ExchangeError:
            return False
        return True


class Markets:
    """``paper_markets`` once per (data exchange, market type, exact) and shard, not once per account."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, bool], dict[str, Market]] = {}

    def get(self, source: str, market_type: str, exact: bool) -> dict[str, Market]:
        key = (source, market_type, exact)
        if key not in self._seen:
            self._seen[key] = paper_markets(source, market_type=market_type, exact=exact)
        return self._seen[key]


def ensure_wallets(accounts: dict[int, ExchangeAccount]) -> None:
    """Create the missing wallets of these accounts, as ``wallet_for`` does on first use."""
    have = set(PaperWallet.objects.filter(account_id__in=list(accounts)).values_list("account_id", flat=True))
    missing = [
        PaperWallet(
            account_id=account_id,
            balance=account.paper_balance or Decimal(10_000),
            fee_rate=Decimal(settings.TRENDY_PAPER_FEE_RATE),
            slippage_bps=Decimal(settings.TRENDY_PAPER_SLIPPAGE_BPS),
        )
        for account_id, account in accounts.items()
        if account_id not in have
    ]
    if missing:
        PaperWallet.objects.bulk_create(missing, ignore_conflicts=True)


def paper_chunk(
    *,
    accounts: dict[int, ExchangeAccount],
    now: datetime,
    candle_for: CandleFor,
    prices: Prices,
    markets: Markets,
) -> PaperChunk:
    """The paper step of these accounts at the candle close ``now``; call inside a transaction."""
    out = PaperChunk()
    ids = sorted(accounts)
    ensure_wallets(accounts)
    wallets = {
        w.account_id: w
        for w in PaperWallet.objects.select_for_update().filter(account_id__in=ids).order_by("account_id")
    }
    orders: dict[int, list[PaperOrder]] = defaultdict(list)
    for row in PaperOrder.objects.filter(account_id__in=ids, status="open").order_by("id"):
        orders[row.account_id].append(row)
    positions: dict[int, list[PaperPosition]] = defaultdict(list)
    for row in PaperPosition.objects.filter(account_id__in=ids).order_by("id"):
        positions[row.account_id].append(row)
    snapshots: list[EquitySnapshot] = []
    marks: list[tuple[int, str, Decimal]] = []
    now_ms = to_ms(now)
    for account_id in ids:
        account, wallet = accounts[account_id], wallets[account_id]
        source = clock.data_exchange(account.exchange)
        if not orders[account_id] and not positions[account_id]:
            balance = wallet.balance
            equity = balance + ZERO  # account_equity with no position: the balance
            out.equity[account_id] = equity
            snapshots.append(_snapshot(account_id, now, balance, equity))
            hold(
                account_id,
                wallet,
                lambda a=account, w=wallet, src=source: _exchange(a, w, book_of(w, [], []), src, prices, markets),
            )
            continue
        book = book_of(wallet, orders[account_id], positions[account_id])
        symbols = set(book.positions) | {o.symbol for o in book.orders.values() if o.status == "open"}
        if not all(prices.ok(source, s) for s in symbols):
            # the per-account path, in a savepoint: it raises the price's error as the loop reports it
            out.dirty.add(account_id)
            try:
                paper_market.paper_step(account=account, now=now, candle_for=lambda s, src=source: candle_for(src, s))
            except ExchangeError as exc:
                out.errors.append(f"paper {account_id}: {exc.message}")
            continue
        exchange = _exchange(account, wallet, book, source, prices, markets)
        exchange.flush = lambda sent=None, a=account, e=exchange: flush(a, e, paper_changes_record, sent=sent)  # type: ignore[attr-defined]
        pending: list[tuple[str, Decimal]] = []
        for symbol in sorted(symbols):
            _play(exchange, symbol, candle_for(source, symbol), now_ms)
            price = exchange._price(symbol)
            if exchange.fills:
                out.dirty.add(account_id)
            if symbol in book.positions or exchange.fills:
                if account_id in out.dirty:
                    flush(account, exchange, paper_changes_record)
                    paper_market._mark(account, symbol, price)
                else:
                    pending.append((symbol, price))
        balance, equity = account_equity(exchange, account)
        snapshots.append(_snapshot(account_id, now, balance, equity))
        flush(account, exchange, paper_changes_record)
        if book.changed or getattr(book, "loaded", None) != _fingerprint(book):
            out.dirty.add(account_id)
        save_book(account, wallet, book)
        hold(account_id, wallet, lambda e=exchange: e)
        if account_id in out.dirty:
            for symbol, price in pending:  # cannot happen (a fill marks at once), kept for safety
                paper_market._mark(account, symbol, price)
        else:
            marks += [(account_id, symbol, price) for symbol, price in pending]
            out.equity[account_id] = equity
    _bulk_mark(marks)
    if snapshots:
        EquitySnapshot.objects.bulk_create(
            snapshots,
            update_conflicts=True,
            unique_fields=["exchange_account", "time"],
            update_fields=["balance", "equity"],
        )
    return out


def _exchange(
    account: ExchangeAccount, wallet: PaperWallet, book: PaperBook, source: str, prices: Prices, markets: Markets
) -> PaperExchange:
    """The account's paper exchange with the shard's prices and markets (read once per shard)."""
    return build_exchange(
        account,
        wallet,
        book,
        price=lambda symbol: prices.get(source, symbol),
        markets=markets.get(source, account.market_type, wallet.exact),
    )


def _play(exchange: PaperExchange, symbol: str, found: Any, now_ms: int) -> None:
    """The closed candle (when there is one), then the new price: ``paper_step``'s order."""
    if found is not None:
        candle, intrabar = found
        exchange.on_candle(
            symbol,
            paper_market._dec(candle["open"]),
            paper_market._dec(candle["high"]),
            paper_market._dec(candle["low"]),
            to_ms(candle["time"]),
            intrabar,
        )
    exchange.on_price(symbol, exchange._price(symbol), now_ms)


def _snapshot(account_id: int, now: datetime, balance: Decimal, equity: Decimal) -> EquitySnapshot:
    return EquitySnapshot(exchange_account_id=account_id, time=now, balance=balance, equity=max(equity, ZERO))


def _bulk_mark(marks: list[tuple[int, str, Decimal]]) -> None:
    """``paper_market._mark`` for many (account, market) pairs in one UPDATE (values rounded as Django does)."""
    if not marks:
        return
    field_ = Position._meta.get_field("mark_price")
    table = Position._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS p SET mark_price = v.price "  # noqa: S608  # nosec B608  # the model's table; values are parameters
            "FROM unnest(%s::bigint[], %s::text[], %s::numeric[]) AS v(account_id, symbol, price) "
            "WHERE p.exchange_account_id = v.account_id AND p.symbol = v.symbol AND p.status = %s",
            [
                [m[0] for m in marks],
                [m[1] for m in marks],
                [field_.get_db_prep_save(m[2], connection) for m in marks],
                Position.Status.OPEN,
            ],
        )
