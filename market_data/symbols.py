"""Exchange ids and market symbols in the one form Trendy stores (ccxt's): ``binance``, ``BTC/USDT``."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from market_data.exceptions import InvalidMarket

# Longest first, so "FDUSDUSDT" splits as FDUSD/USDT and "BTCBUSD" as BTC/BUSD.
QUOTE_ASSETS: tuple[str, ...] = ("FDUSD", "USDT", "USDC", "BUSD", "BTC", "ETH")

_EXCHANGE_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_ASSET = r"[A-Z0-9]{1,20}"
_SYMBOL_RE = re.compile(rf"^({_ASSET})/({_ASSET})(?::({_ASSET}))?$")
_CONCATENATED_RE = re.compile(r"^[A-Z0-9]{2,40}$")


def normalize_exchange(exchange: str) -> str:
    """Lower-case ccxt exchange id, e.g. ``"Binance "`` → ``"binance"``."""
    value = (exchange or "").strip().lower()
    if not _EXCHANGE_RE.match(value):
        raise InvalidMarket(
            _("%(value)r is not an exchange id: use the ccxt id, e.g. binance or okx.") % {"value": exchange}
        )
    return value


def normalize_symbol(symbol: str) -> str:
    """ccxt form ``BASE/QUOTE``: accepts ``BTC/USDT``, ``btc/usdt`` and ``BTCUSDT`` (for common quote assets)."""
    value = (symbol or "").strip().upper()
    if _SYMBOL_RE.match(value):
        return value
    if _CONCATENATED_RE.match(value):
        for quote in QUOTE_ASSETS:
            if value.endswith(quote) and len(value) > len(quote):
                return f"{value[: -len(quote)]}/{quote}"
    raise InvalidMarket(
        _("%(value)r is not a market symbol Trendy understands: write it as BASE/QUOTE, e.g. BTC/USDT.")
        % {"value": symbol}
    )
