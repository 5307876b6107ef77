"""The paper exchange's books in the database: load a ``PaperBook`` under a row lock, run one or more
paper-exchange calls, save what changed, and record the fills in Trendy's own orders and positions."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from accounts.models import ExchangeAccount
from trading import clock
from trading.exchanges.base import Market
from trading.exchanges.errors import ExchangeError, InsufficientFunds, InvalidOrder
from trading.exchanges.paper import PaperBook, PaperExchange
from trading.exchanges.paper import PaperOrder as BookOrder
from trading.exchanges.paper import PaperPosition as BookPosition
from trading.models import PaperOrder, PaperPosition, PaperWallet
from trading.models.fields import as_stored
from trading.paper.markets import paper_markets

# What the session calls with its fills and changed orders: ``trading.execution.fills.paper_changes_record``,
# handed in by ``trading.execution.adapters`` (the paper books sit below execution and never import it).
Recorder = Callable[..., None]

ORDER_FIELDS = (
    "client_order_id", "symbol", "side", "type", "status", "amount", "filled", "average", "fee", "price",
    "trigger_price", "reduce_only", "reason", "created_ms", "updated_ms",
)  # fmt: skip
POSITION_FIELDS = ("side", "amount", "entry_price", "margin", "entry_fee", "leverage", "opened_ms")


def wallet_for(account: ExchangeAccount, *, lock: bool = False) -> PaperWallet:
    """The paper wallet, created with the account's starting balance on first use."""
    manager = PaperWallet.objects.select_for_update() if lock else PaperWallet.objects
    wallet = manager.filter(account=account).first()
    if wallet is None:
        PaperWallet.objects.get_or_create(
            account=account,
            defaults={
                "balance": account.paper_balance or Decimal(10_000),
                "fee_rate": Decimal(settings.TRENDY_PAPER_FEE_RATE),
                "slippage_bps": Decimal(settings.TRENDY_PAPER_SLIPPAGE_BPS),
            },
        )
        wallet = manager.get(account=account)
    return wallet


def _book_order(row: PaperOrder) -> BookOrder:
    return BookOrder(exchange_order_id=row.exchange_order_id, **{name: getattr(row, name) for name in ORDER_FIELDS})


def load_book(account: ExchangeAccount, wallet: PaperWallet) -> PaperBook:
    return book_of(
        wallet, PaperOrder.objects.filter(account=account, status="open"), PaperPosition.objects.filter(account=account)
    )


def book_of(
    wallet: PaperWallet, open_orders: Iterable[PaperOrder], positions_rows: Iterable[PaperPosition]
) -> PaperBook:
    """The book of a wallet from its open order and position rows (read one account at a time, or in bulk)."""
    orders = {row.exchange_order_id: _book_order(row) for row in open_orders}
    positions = {
        row.symbol: BookPosition(symbol=row.symbol, **{name: getattr(row, name) for name in POSITION_FIELDS})
        for row in positions_rows
    }
    book = PaperBook(
        balance=wallet.balance,
        orders=orders,
        positions=positions,
        leverage={k: int(v) for k, v in wallet.leverage.items()},
        next_seq=wallet.next_order_seq,
    )
    book.loaded = _fingerprint(book)  # type: ignore[attr-defined]
    return book


def _fingerprint(book: PaperBook) -> tuple:
    positions = tuple(sorted((s, *(getattr(p, n) for n in POSITION_FIELDS)) for s, p in book.positions.items()))
    return (book.balance, book.next_seq, tuple(sorted(book.leverage.items())), positions)


def save_book(account: ExchangeAccount, wallet: PaperWallet, book: PaperBook) -> None:
    save_books([(account, wallet, book)])


def save_books(books: Iterable[tuple[ExchangeAccount, PaperWallet, PaperBook]]) -> None:
    """Save what changed in these books (each under its wallet's lock), one statement per table for them all:
    created or changed orders in one INSERT … ON CONFLICT (account, exchange order id) UPDATE, positions gone in
    one DELETE, new ones in one INSERT, the wallets in one UPDATE (a changed position: an UPDATE each)."""
    orders: list[PaperOrder] = []
    gone: list[Q] = []
    created: list[PaperPosition] = []
    wallets: list[PaperWallet] = []
    saved: list[tuple[PaperWallet, PaperBook]] = []
    for account, wallet, book in books:
        orders += [
            PaperOrder(
                account=account,
                exchange_order_id=exchange_id,
                **{name: getattr(book.orders[exchange_id], name) for name in ORDER_FIELDS},
            )
            for exchange_id in sorted(book.changed)
        ]
        loaded = getattr(book, "loaded", None)
        book.__dict__.pop("reported", None)
        if loaded == _fingerprint(book):
            book.changed.clear()
            continue
        if loaded is None:
            rows = PaperPosition.objects.filter(account=account)
            stored = {row.symbol: tuple(getattr(row, name) for name in POSITION_FIELDS) for row in rows}
        else:  # the rows as they were read or last saved, under the wallet's lock: no need to read them again
            stored = {entry[0]: tuple(entry[1:]) for entry in loaded[3]}
        gone += [Q(account=account, symbol=symbol) for symbol in stored if symbol not in book.positions]
        for symbol, position in book.positions.items():
            values = {name: getattr(position, name) for name in POSITION_FIELDS}
            before = stored.get(symbol)
            if before is None:
                created.append(PaperPosition(account=account, symbol=symbol, **values))
            elif before != tuple(values.values()):
                PaperPosition.objects.filter(account=account, symbol=symbol).update(**values)
        wallet.balance = book.balance
        wallet.next_order_seq = book.next_seq
        wallet.leverage = dict(book.leverage)
        wallets.append(wallet)
        saved.append((wallet, book))
    if orders:
        PaperOrder.objects.bulk_create(
            orders,
            update_conflicts=True,
            unique_fields=["account", "exchange_order_id"],
            update_fields=list(ORDER_FIELDS),
        )
    if gone:
        PaperPosition.objects.filter(reduce(operator.or_, gone)).delete()
    if created:
        PaperPosition.objects.bulk_create(created)
    if len(wallets) == 1:
        wallets[0].save(update_fields=["balance", "next_order_seq", "leverage"])
    elif wallets:
        PaperWallet.objects.bulk_update(wallets, ["balance", "next_order_seq", "leverage"])
    for wallet, book in saved:
        for exchange_id in list(book.orders):
            if book.orders[exchange_id].status != "open":
                del book.orders[exchange_id]
        book.changed.clear()
        _book_as_stored(book)
        wallet.balance = book.balance
        book.loaded = _fingerprint(book)  # type: ignore[attr-defined]


def _book_as_stored(book: PaperBook) -> None:
    """The book in memory as reading it again would give it (the decimals the columns round), so that a book
    kept in memory after its save (``books_held``) computes exactly what a book read afresh does."""
    book.balance = as_stored(book.balance)  # type: ignore[assignment]
    for item, names in [(p, POSITION_FIELDS) for p in book.positions.values()] + [
        (o, ORDER_FIELDS) for o in book.orders.values()
    ]:
        for name in names:
            value = getattr(item, name)
            if isinstance(value, Decimal):
                setattr(item, name, as_stored(value))


_unused: ContextVar[set[tuple[int, str]] | None] = ContextVar("trendy_paper_client_ids_unused", default=None)


@contextmanager
def client_ids_tracked() -> Iterator[set[tuple[int, str]]]:
    """Inside, the (account, client order id) pairs added to the yielded set are known never to have been used:
    the book's finder answers "no such order" for them without reading the database."""
    unused: set[tuple[int, str]] = set()
    token = _unused.set(unused)
    try:
        yield unused
    finally:
        _unused.reset(token)


def client_id_unused(account_id: int, client_id: str) -> None:
    unused = _unused.get()
    if unused is not None:
        unused.add((account_id, client_id))


def _finder(account: ExchangeAccount) -> Callable[[str | None, str | None], BookOrder | None]:
    def find(exchange_id: str | None, client_id: str | None) -> BookOrder | None:
        unused = _unused.get()
        if not exchange_id and unused and (account.pk, client_id) in unused:
            return None
        rows = PaperOrder.objects.filter(account=account)
        if exchange_id:
            rows = rows.filter(exchange_order_id=exchange_id)
        elif client_id:
            rows = rows.filter(client_order_id=client_id)
        else:
            return None
        row = rows.first()
        return None if row is None else _book_order(row)

    return find


def build_exchange(
    account: ExchangeAccount,
    wallet: PaperWallet,
    book: PaperBook,
    *,
    price: Callable[[str], Decimal] | None = None,
    markets: dict[str, Market] | None = None,
) -> PaperExchange:
    source = clock.data_exchange(account.exchange)
    return PaperExchange(
        book,
        markets if markets is not None else paper_markets(source, market_type=account.market_type, exact=wallet.exact),
        price=price or (lambda symbol: clock.current_price(source, symbol)),
        now_ms=clock.now_ms,
        fee_rate=wallet.fee_rate,
        slippage_bps=wallet.slippage_bps,
        find_order=_finder(account),
    )


@dataclass
class Held:
    """A book the loop's chunk has locked and saved, kept in memory for the bots of the chunk: ``make`` builds
    its exchange (the wallet row, locked, with the open orders and positions the chunk read) on first use."""

    wallet: PaperWallet
    make: Callable[[], PaperExchange]
    exchange: PaperExchange | None = None


_held: ContextVar[dict[int, Held] | None] = ContextVar("trendy_paper_books_held", default=None)


@contextmanager
def books_held() -> Iterator[dict[int, Held]]:
    """While open, ``paper_session`` on an account ``hold`` was told about uses that book instead of locking
    and reading it again (the loop's chunk: its transaction already holds every wallet's row lock). A session
    that does not end cleanly takes its book out (``release`` too): the next one reads the database again."""
    token = _held.set({})
    try:
        yield _held.get()  # type: ignore[misc]
    finally:
        _held.reset(token)


def hold(account_id: int, wallet: PaperWallet, make: Callable[[], PaperExchange]) -> None:
    held = _held.get()
    if held is not None:
        held[account_id] = Held(wallet, make)


def held_book(account_id: int) -> tuple[PaperWallet, PaperExchange] | None:
    """The wallet and exchange of a held book (built on first use), or None; it stays held."""
    held = _held.get()
    entry = held.get(account_id) if held is not None else None
    if entry is None:
        return None
    entry.exchange = entry.exchange or entry.make()
    return entry.wallet, entry.exchange


def release(account_id: int) -> None:
    """Forget a held book (its transaction rolled back to a savepoint: the database is behind the memory)."""
    held = _held.get()
    if held is not None:
        held.pop(account_id, None)


@contextmanager
def paper_session(
    account: ExchangeAccount, *, record: Recorder, price: Callable[[str], Decimal] | None = None
) -> Iterator[PaperExchange]:
    """One transaction with the paper wallet locked: concurrent calls on one account run one at a time.
    On leaving, the book is saved and its fills are recorded in Trendy's orders and positions.

    An order the exchange refused (invalid, insufficient funds) does not roll the session back: the paper
    exchange refuses before it changes its book, and the rejected order stays on record for the user."""
    refused: ExchangeError | None = None
    held = _held.get()
    entry = held.pop(account.pk, None) if held is not None and price is None else None
    with transaction.atomic():
        if entry is None:
            wallet = wallet_for(account, lock=True)
            book = load_book(account, wallet)
            exchange = build_exchange(account, wallet, book, price=price)
        else:
            wallet, exchange = entry.wallet, entry.exchange or entry.make()
            book = exchange.book
        exchange.flush = lambda sent=None: flush(account, exchange, record, sent=sent)  # type: ignore[attr-defined]
        try:
            yield exchange
        except (InvalidOrder, InsufficientFunds) as exc:
            refused = exc
        flush(account, exchange, record)
        save_book(account, wallet, book)
    if entry is not None and held is not None:  # saved: the memory is the database again
        entry.exchange = exchange
        held[account.pk] = entry
    if refused is not None:
        raise refused


def flush(account: ExchangeAccount, exchange: PaperExchange, record: Recorder, *, sent: object = None) -> object:
    """Hand the fills and order changes so far to ``record`` (Trendy's orders, positions and trades); ``sent``
    (the caller's order just sent) is passed through. Returns what ``record`` returns."""
    fills = list(exchange.fills)
    exchange.fills.clear()
    book = exchange.book
    reported = book.__dict__.setdefault("reported", {})  # what earlier flushes of this session handed over
    changed = []
    for exchange_id in sorted(book.changed):
        state = book.orders[exchange_id].state()
        if reported.get(exchange_id) != state:
            reported[exchange_id] = state
            changed.append(state)
    return record(account=account, fills=fills, orders=changed, sent=sent)
