"""How market ids read on a page: the exchange by its name, the timeframe in the trader's language."""

from __future__ import annotations

import re

from django.utils.translation import pgettext

EXCHANGE_NAMES = {"binance": "Binance", "okx": "OKX", "bybit": "Bybit", "kraken": "Kraken", "coinbase": "Coinbase"}

_TIMEFRAME_RE = re.compile(r"^(\d+)([mhdwM])$")


def exchange_name(exchange: str) -> str:
    """``binance`` → ``Binance`` (a proper name, the same in every language)."""
    return EXCHANGE_NAMES.get(exchange, (exchange or "").capitalize())


def timeframe_label(timeframe: str) -> str:
    """``1h`` → ``1h`` / ``1시간``; ``15m`` → ``15m`` / ``15분``; ``1d`` → ``1d`` / ``1일``."""
    match = _TIMEFRAME_RE.match(timeframe or "")
    if not match:
        return timeframe
    count, unit = match.groups()
    templates = {
        # Translators: a candle timeframe of %(n)s minutes, as traders write it (15m).
        "m": pgettext("timeframe", "%(n)sm"),
        # Translators: a candle timeframe of %(n)s hours (1h, 4h).
        "h": pgettext("timeframe", "%(n)sh"),
        # Translators: a candle timeframe of %(n)s days (1d).
        "d": pgettext("timeframe", "%(n)sd"),
        # Translators: a candle timeframe of %(n)s weeks (1w).
        "w": pgettext("timeframe", "%(n)sw"),
        # Translators: a candle timeframe of %(n)s months (1M).
        "M": pgettext("timeframe", "%(n)sM"),
    }
    return templates[unit] % {"n": count}
