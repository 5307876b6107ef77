"""Celery tasks of market_data: thin, idempotent, calling services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from market_data import services
from market_data.exceptions import InvalidMarket, MarketDataError, MarketDataUnavailable

logger = logging.getLogger(__name__)


def parse_feeds(entries: list[str]) -> list[tuple[str, str, str]]:
    """``["binance:BTC/USDT:1h", …]`` (TRENDY_MARKET_FEEDS) → ``[("binance", "BTC/USDT", "1h"), …]``."""
    feeds = []
    for entry in entries:
        parts = entry.split(":")
        if len(parts) != 3 or not all(parts):
            raise InvalidMarket(f"TRENDY_MARKET_FEEDS entry {entry!r} must look like binance:BTC/USDT:1h.")
        feeds.append((parts[0], parts[1], parts[2]))
    return feeds


@shared_task(
    name="market_data.fetch_market_feeds",
    autoretry_for=(MarketDataUnavailable,),
    retry_backoff=30,
    retry_backoff_max=120,
    max_retries=2,
)
def fetch_market_feeds(api_url: str | None = None) -> dict[str, int]:
    """Fetch the closed candles of every feed in TRENDY_MARKET_FEEDS, resuming from what is stored.

    Returns candles inserted or updated per feed; retried later when an exchange cannot be reached.
    """
    stored: dict[str, int] = {}
    unavailable: MarketDataUnavailable | None = None
    for exchange, symbol, timeframe in parse_feeds(settings.TRENDY_MARKET_FEEDS):
        try:
            report = services.candles_fetch(exchange=exchange, symbol=symbol, timeframe=timeframe, api_url=api_url)
        except MarketDataUnavailable as exc:
            unavailable = exc
            logger.warning("market feed %s %s %s: %s", exchange, symbol, timeframe, exc)
            continue
        except MarketDataError as exc:
            logger.error("market feed %s %s %s: %s", exchange, symbol, timeframe, exc)
            continue
        stored[f"{report.exchange}:{report.symbol}:{report.timeframe}"] = report.inserted + report.updated
    if unavailable is not None:
        raise unavailable
    return stored
