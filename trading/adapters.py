"""Which adapter an exchange account trades through (the Django side of ``trading.exchanges``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from django.conf import settings

from accounts.models import ExchangeAccount
from trading.exchanges.base import Exchange


def adapter_for(account: ExchangeAccount, *, api_urls: dict[str, str] | None = None, **options: object) -> Exchange:
    """A ready adapter. For a paper account: the paper exchange on its current book (for reads; writes
    go through ``exchange_session`` so that they are saved). Otherwise the ccxt adapter with the
    account's opened keys; ``api_urls`` (or ``TRENDY_EXCHANGE_API_URLS``) points it elsewhere."""
    if account.is_paper:
        from trading.paper_store import build_exchange, load_book, wallet_for

        wallet = wallet_for(account)
        return build_exchange(account, wallet, load_book(account, wallet))
    from trading.exchanges.registry import build_exchange as build_ccxt

    override = api_urls
    if override is None and account.exchange in settings.TRENDY_EXCHANGE_API_URLS:
        override = {"*": settings.TRENDY_EXCHANGE_API_URLS[account.exchange]}  # every API of that exchange
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
    leaving (``paper_store.paper_session``); for a real exchange, the ccxt adapter."""
    if account.is_paper:
        from trading.paper_store import paper_session

        with paper_session(account) as exchange:
            yield exchange
    else:
        with nullcontext(adapter_for(account)) as exchange:
            yield exchange


def flush(exchange: Exchange) -> None:
    """Record what a paper exchange did so far (no-op for real exchanges: their fills are read back)."""
    hook = getattr(exchange, "flush", None)
    if hook is not None:
        hook()
