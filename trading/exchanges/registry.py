"""Building the adapter for an exchange account (pure: no Django). The paper exchange is built on the
Django side (``trading.paper.store``), not here."""

from __future__ import annotations

from typing import Any

from .base import Exchange
from .ccxt_exchange import CcxtExchange


def build_exchange(
    exchange_id: str,
    *,
    credentials: dict[str, str],
    testnet: bool,
    market_type: str,
    api_urls: dict[str, str] | None = None,
    **options: Any,
) -> Exchange:
    """The ccxt adapter for any exchange ccxt knows (Binance and OKX with their venue settings).

    ``credentials`` holds ``api_key``, ``secret`` and ``passphrase`` (OKX); ``options`` go to
    ``CcxtExchange`` (time-out, retries, margin mode, ...). ``ExchangeError`` for an id ccxt does not know.
    """
    return CcxtExchange(
        exchange_id,
        api_key=credentials.get("api_key", ""),
        secret=credentials.get("secret", ""),
        passphrase=credentials.get("passphrase", ""),
        testnet=testnet,
        market_type=market_type,
        api_urls=api_urls,
        **options,
    )
