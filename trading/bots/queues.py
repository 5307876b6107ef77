"""The Celery queue of each exchange's bots (routing: ``CELERY_TASK_ROUTES`` and ``TRENDY_TRADING_QUEUES``)."""

from __future__ import annotations

from django.conf import settings


def bot_queue(exchange: str) -> str:
    """``trading.paper``, ``trading.binance``, ``trading.okx``…; an exchange without a queue of its own in
    ``TRENDY_TRADING_QUEUES`` shares ``trading.other``."""
    return f"trading.{exchange}" if exchange in settings.TRENDY_TRADING_QUEUES else "trading.other"
