"""The paper exchange's books in the database: load a ``PaperBook`` under a row lock, run one or more
paper-exchange calls, save what changed, and record the fills in Trendy's own orders and positions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from accounts.models import ExchangeAccount
from trading import clock
from trading.exchanges.base import Market
from trading.exchanges.errors import ExchangeError, InsufficientFunds, InvalidOrder
from trading.exchanges.paper import PaperBook, PaperExchange
from trading.exchanges.paper import PaperOrder as BookOrder
from trading.exchanges.paper import PaperPosition as BookPosition
from trading.models import PaperOrder, PaperPosition, PaperWallet
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
    if book.changed:  # created or changed orders, in one INSERT … ON CONFLICT (account, exchange order id) UPDATE
        PaperOrder.objects.bulk_create(
            [
                PaperOrder(
                    account=account,
                    exchange_order_id=exchange_id,
                    **{name: getattr(book.orders[exchange_id], name) for name in ORDER_FIELDS},
                )
                for exchange_id in sorted(book.changed)
            ],
            update_conflicts=True,
            unique_fields=["account", "exchange_order_id"],
            update_fields=list(ORDER_FIELDS),
        )
    if getattr(book, "loaded", None) == _fingerprint(book):
        book.changed.clear()
        return
    stored = {row.symbol: row for row in PaperPosition.objects.filter(account=account)}
    for symbol, row in stored.items():
        if symbol not in book.positions:
            row.delete()
    for symbol, position in book.positions.items():
        values = {name: getattr(position, name) for name in POSITION_FIELDS}
        row = stored.get(symbol)
        if row is None:
            PaperPosition.objects.create(account=account, symbol=symbol, **values)
        elif any(getattr(row, k) != v for k, v in values.items()):
            PaperPosition.objects.filter(pk=row.pk).update(**values)
    wallet.balance = book.balance
    wallet.next_order_seq = book.next_seq
    wallet.leverage = dict(book.leverage)
    wallet.save(update_fields=["balance", "next_order_seq", "leverage"])
    for exchange_id in list(book.orders):
        if book.orders[exchange_id].status != "open":
            del book.orders[exchange_id]
    book.changed.clear()
    book.loaded = _fingerprint(book)  # type: ignore[attr-defined]


def _finder(account: ExchangeAccount) -> Callable[[str | None, str | None], BookOrder | None]:
    def find(exchange_id: str | None, client_id: str | None) -> BookOrder | None:
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


@contextmanager
def paper_session(
    account: ExchangeAccount, *, record: Recorder, price: Callable[[str], Decimal] | None = None
) -> Iterator[PaperExchange]:
    """One transaction with the paper wallet locked: concurrent calls on one account run one at a time.
    On leaving, the book is saved and its fills are recorded in Trendy's orders and positions.

    An order the exchange refused (invalid, insufficient funds) does not roll the session back: the paper
    exchange refuses before it changes its book, and the rejected order stays on record for the user."""
    refused: ExchangeError | None = None
    with transaction.atomic():
        wallet = wallet_for(account, lock=True)
        book = load_book(account, wallet)
        exchange = build_exchange(account, wallet, book, price=price)
        exchange.flush = lambda: flush(account, exchange, record)  # type: ignore[attr-defined]
        try:
            yield exchange
        except (InvalidOrder, InsufficientFunds) as exc:
            refused = exc
        flush(account, exchange, record)
        save_book(account, wallet, book)
    if refused is not None:
        raise refused


def flush(account: ExchangeAccount, exchange: PaperExchange, record: Recorder) -> None:
    """Hand the fills and order changes so far to ``record`` (Trendy's orders, positions and trades)."""
    fills = list(exchange.fills)
    exchange.fills.clear()
    changed = [exchange.book.orders[k].state() for k in sorted(exchange.book.changed)]
    record(account=account, fills=fills, orders=changed)
