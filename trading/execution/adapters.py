"""Which adapter an exchange account trades through (the Django side of ``trading.exchanges``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings

from accounts.models import ExchangeAccount
from trading.exchanges.base import Exchange
from trading.execution.fills import paper_changes_record
from trading.paper.store import build_exchange, load_book, wallet_for
from trading.paper.store import paper_session as book_session
from trading_site import metrics


def adapter_for(account: ExchangeAccount, *, api_urls: dict[str, str] | None = None, **options: object) -> Exchange:
    """A ready adapter. For a paper account: the paper exchange on its current book (for reads; writes
    go through ``exchange_session`` so that they are saved). Otherwise the ccxt adapter with the
    account's opened keys; ``api_urls`` (or ``TRENDY_EXCHANGE_API_URLS``) points it elsewhere."""
    if account.is_paper:
        wallet = wallet_for(account)
        return build_exchange(account, wallet, load_book(account, wallet))
    from trading.exchanges.registry import build_exchange as build_ccxt

    override = api_urls
    if override is None and account.exchange in settings.TRENDY_EXCHANGE_API_URLS:
        override = {"*": settings.TRENDY_EXCHANGE_API_URLS[account.exchange]}  # every API of that exchange
    options.setdefault("observer", partial(metrics.exchange_answered_as, account.exchange))
    return build_ccxt(
        account.exchange,
        credentials=account.credentials(),
        testnet=account.testnet,
        market_type=account.market_type,
        api_urls=override,
        **options,
    )


@contextmanager
def exchange_session(account: ExchangeAccount) -> Iterator[Exchange]:
    """The adapter for a series of calls: for paper, one locked transaction whose fills are recorded on
    leaving (``paper_session``); for a real exchange, the ccxt adapter."""
    if account.is_paper:
        with paper_session(account) as exchange:
            yield exchange
    else:
        with nullcontext(adapter_for(account)) as exchange:
            yield exchange


def paper_session(account: ExchangeAccount, *, price: Callable[[str], Decimal] | None = None) -> Any:
    """A paper account's locked session whose fills are recorded in Trendy's books on leaving
    (``trading.paper.store.paper_session`` with ``fills.paper_changes_record`` as its recorder)."""
    return book_session(account, record=paper_changes_record, price=price)
